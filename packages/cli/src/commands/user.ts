import { userInfo } from 'node:os';
import type { AdminStatus, TwoFactor } from '@twofold/core';
import { integerOption, parseCommand } from '../args.js';
import { EXIT, storeFailure, UsageError } from '../errors.js';
import { loadHooks, operatorEngine } from '../hooks.js';
import type { Io } from '../io.js';
import { openStore, STORE_URL_FORMS } from '../store.js';

export const userHelp = `Usage: twofold user <status|unlock|reset> <user id> --url <store> [options]

Operator actions on one user's two-factor authentication, on the store the app uses:

  status   what the user has: 2FA on or off, authenticators (names, types, dates), recovery
           codes left, wrong codes counted and whether the user is locked out. No secret is shown.
  unlock   ends a lockout at once (the count of wrong codes starts again from zero).
  reset    turns 2FA off for a user who lost every authenticator and recovery code: signs out
           every session, deletes the authenticators, recovery codes, a pending enrollment and a
           recovery link, and sends the user a "two-factor-reset" notice through --hooks.
           Check the person's identity first: this is what an attacker asks support for.

Each action is an audit record: one JSON line on stderr ({"audit":{action,userId,actor,reason,
at,changed}}), also given to the hooks module's audit export.

Options:
  --url <store>         the app's store (or set TWOFOLD_DATABASE_URL):
${STORE_URL_FORMS.replaceAll(/^/gm, '      ')}
  --prefix <prefix>     SQL: table name prefix (default twofold_); Redis: key prefix (default twofold:)
  --actor <name>        who acts, for the audit record (default cli:<your login name>)
  --reason <text>       why (a ticket number...), for the audit record and the notice
  --hooks <module>      an ES module of the app's: its exports notify (notice => Promise), messages
                        and issuer are the engine options of the same names, audit (record =>
                        Promise) gets the audit record; lockout ({ maxFailures }) must match the app's
  --issuer <name>       the site's name in the notice (default: the hooks' issuer, else "twofold")
  --max-failures <n>    the app's lockout.maxFailures, 3-100, to tell a lockout (default: the
                        hooks' lockout.maxFailures, else 10)
  --json                status: print the status as JSON
  -h, --help            show this help

Exit codes: 0 done, 1 the store failed (or the notice or audit hook failed), 2 usage error.
`;

type Action = 'status' | 'unlock' | 'reset';
const ACTIONS: readonly Action[] = ['status', 'unlock', 'reset'];

/** `twofold user <action> <user id>`: the engine's operator actions. */
export async function userCommand(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: {
      url: { type: 'string' },
      prefix: { type: 'string' },
      actor: { type: 'string' },
      reason: { type: 'string' },
      hooks: { type: 'string' },
      issuer: { type: 'string' },
      'max-failures': { type: 'string' },
      json: { type: 'boolean' },
    },
    help: userHelp,
    maxPositionals: 2,
    what: 'the action and the user id',
  });
  if (parsed === null) return EXIT.ok;
  const { values, positionals } = parsed;
  const [action, userId] = positionals;
  if (action === undefined || !ACTIONS.includes(action as Action)) {
    throw new UsageError(`the action must be one of ${ACTIONS.join(', ')}`);
  }
  if (userId === undefined || userId === '') throw new UsageError('the user id is missing');
  const actor = values.actor ?? `cli:${loginName()}`;
  const hooks = values.hooks === undefined ? {} : await loadHooks(values.hooks);
  const maxFailures =
    integerOption('max-failures', values['max-failures'], 3, 100) ?? hooks.lockout?.maxFailures ?? 10;
  const issuer = values.issuer ?? hooks.issuer ?? 'twofold';

  const opened = await openStore(values.url ?? io.env.TWOFOLD_DATABASE_URL, values.prefix);
  try {
    const engine = await operatorEngine(io, opened.store, hooks, { issuer, maxFailures });
    const { twoFactor } = engine;
    const by = values.reason === undefined ? { actor } : { actor, reason: values.reason };
    const code = await run(
      io,
      twoFactor,
      action as Action,
      userId,
      by,
      values.json ?? false,
      !!hooks.notify,
    ).catch((error: unknown) => {
      const field = (error as { field?: unknown }).field;
      if (typeof field === 'string') {
        throw new UsageError(
          `${field === 'userId' ? 'the user id' : `--${field}`}: ${(error as Error).message}`,
        );
      }
      return storeFailure(opened.where)(error);
    });
    return (await engine.settle(`twofold user ${action}`)) ? code : EXIT.failure;
  } finally {
    await opened.close();
  }
}

async function run(
  io: Io,
  twoFactor: TwoFactor,
  action: Action,
  userId: string,
  by: { actor: string; reason?: string },
  json: boolean,
  notifies: boolean,
): Promise<number> {
  const who = JSON.stringify(userId);
  switch (action) {
    case 'status': {
      const status = await twoFactor.adminStatus(userId, by);
      io.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : describeStatus(who, status));
      return EXIT.ok;
    }
    case 'unlock': {
      const { wasLocked } = await twoFactor.unlock(userId, by);
      io.stdout.write(
        wasLocked
          ? `${who} is unlocked\n`
          : `${who} was not locked out; the count of wrong codes is cleared\n`,
      );
      return EXIT.ok;
    }
    case 'reset': {
      const { wasEnabled } = await twoFactor.resetTwoFactor(userId, by);
      if (!wasEnabled) {
        io.stdout.write(
          `${who} had no two-factor authentication; nothing to reset (sessions were signed out)\n`,
        );
        return EXIT.ok;
      }
      io.stdout.write(`two-factor authentication of ${who} is off, and every session signed out\n`);
      if (!notifies) {
        io.stderr.write(
          'twofold user reset: no notice was sent to the user (no --hooks with a notify export): tell them yourself\n',
        );
      }
      return EXIT.ok;
    }
  }
}

function describeStatus(who: string, status: AdminStatus): string {
  const lines = [
    `${who}: two-factor authentication ${status.enabled ? 'on' : 'off'}${status.pending ? ' (an enrollment is pending)' : ''}`,
  ];
  if (status.enabled) {
    lines.push(
      `  on since ${status.enabledAt?.toISOString()}; last used ${status.lastUsedAt?.toISOString() ?? 'never'}`,
    );
    lines.push(`  recovery codes left: ${status.recoveryCodesRemaining}`);
  }
  for (const item of status.authenticatorList) {
    const kind = item.type === 'totp' ? 'app' : item.passkey ? 'passkey' : 'security key';
    lines.push(
      `  ${item.id}  ${kind}  ${JSON.stringify(item.name)}  added ${item.createdAt.toISOString()}, last used ${item.lastUsedAt?.toISOString() ?? 'never'}`,
    );
  }
  lines.push(
    status.lockedUntil
      ? `  LOCKED OUT until ${status.lockedUntil.toISOString()} (${status.failures} wrong codes); 'twofold user unlock' ends it`
      : `  not locked out (${status.failures} wrong code${status.failures === 1 ? '' : 's'} counted)`,
  );
  return `${lines.join('\n')}\n`;
}

function loginName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
