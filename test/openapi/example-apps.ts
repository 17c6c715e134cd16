/**
 * What the OpenAPI tests share: the settings of an example app (Fastify or Express) in a temporary
 * folder, with a fresh keyring and a free port.
 */
import { generateKey } from '@twofold/core';
import { type ExampleConfig, loadConfig } from '../../examples/web/src/index.js';

/** The settings of the `name` example app, its data and outbox under `dir`. */
export function exampleConfig(dir: string, name: string): ExampleConfig {
  return loadConfig(
    {
      DATA_DIR: `${name}-data`,
      TWOFOLD_OUTBOX: `${name}-outbox`,
      PORT: '0',
      LOG_LEVEL: 'warn',
      TWOFOLD_KEYS: generateKey(),
    },
    dir,
    { issuer: `twofold ${name} example` },
  );
}
