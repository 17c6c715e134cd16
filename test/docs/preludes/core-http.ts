/** @twofold/core/http's sample: `store`, `keyring` and `authenticate`. */
import { memoryStore } from '@twofold/core';
import type { TwofoldHttp } from '@twofold/core/http';
import { authenticateAda, deepStrictEqual, ok } from './users.js';

export const store = memoryStore();
export const keyring = process.env.TWOFOLD_KEYS!;
export const authenticate = authenticateAda;

/** The fields the sample's comment lists are the fields of every route (`description` is optional). */
const FIELDS = [
  'id',
  'method',
  'path',
  'auth',
  'sensitive',
  'body',
  'operationId',
  'tag',
  'summary',
  'responses',
  'errors',
  'handle',
];

export async function after(scope: { http?: TwofoldHttp }) {
  const routes = scope.http!.routes;
  ok(routes.length > 0);
  for (const route of routes) {
    deepStrictEqual(
      Object.keys(route)
        .filter((key) => key !== 'description' && key !== 'enrollment')
        .sort(),
      [...FIELDS].sort(),
      `the fields of ${route.method} ${route.path}`,
    );
    ok(['none', 'user', 'token'].includes(route.auth));
  }
}
