import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { BehaviourGroup } from '../src/internal/behaviour.js';
import { atomically } from '../src/internal/behaviours/atomically.js';
import { beginSecondFactor } from '../src/internal/behaviours/begin-second-factor.js';
import { consumeCounterAndReset } from '../src/internal/behaviours/consume-counter-and-reset.js';
import { finishSecondFactor } from '../src/internal/behaviours/finish-second-factor.js';
import { putNonces } from '../src/internal/behaviours/put-nonces.js';
import { notImplemented, type OptionalOperation } from '../src/internal/optional.js';
import type { NaiveStoreBug } from './fixtures/naive-store.js';

/**
 * For each bug a real adapter could have, the behaviours of the suite that must fail on a store
 * with only that bug (others may fail too).
 */
const MUST_CATCH: Record<NaiveStoreBug, readonly string[]> = {
  racy: [
    'of concurrent confirms exactly one wins, and only its counter and recovery codes are stored',
    'confirm racing new enrollments never activates a secret it did not carry',
    'of concurrent consumeCounter calls with the same counter exactly one succeeds',
    'concurrent consumeCounter calls with increasing counters leave the highest recorded',
    'of concurrent replaceSealedSecret calls with the same expected exactly one wins',
    'replaceSealedSecret racing deleteTwoFactor never leaves an authenticator behind',
    'of concurrent consumes of one recovery code exactly one succeeds',
    'concurrent consumes of ten different codes each succeed exactly once',
    'concurrent replaceRecoveryCodes calls never mix two sets',
    'countRecoveryCodes never sees a partial set while codes are replaced',
    '20 parallel increments count exactly 20',
    'parallel increments at the configured concurrency never lose a count',
    'of concurrent takeAttempt calls on a fresh counter with limit 10 exactly 10 are taken, as 1..10',
    'of concurrent takeAttempt calls with limit 1 exactly one is taken',
    'of concurrent takeAttempt calls on a counter at 7 with limit 10 exactly 3 are taken, as 8..10',
    'resetCounterIfUnchanged racing takeAttempt calls never erases an attempt counted after the expected state',
    'of concurrent claims exactly one succeeds, and its value is stored',
    'of concurrent takes exactly one succeeds',
    'of concurrent swaps with the same expected exactly one succeeds, and its value is stored',
    'of concurrent takeNonceAndDeleteTwoFactor calls with the same value exactly one succeeds',
    'takeNonceAndDeleteTwoFactor racing takeNonce: exactly one wins, and two-factor is deleted only by it',
    'takeNonceAndDeleteTwoFactor is one step: no reader sees the nonce taken and two-factor state left, or the reverse',
    'of concurrent savePendingAuthenticator calls with different ids exactly one enrollment remains',
    'of concurrent addWebAuthnCredential calls for a user without two-factor exactly one is enabled, and only its codes are stored',
    'a confirm racing addWebAuthnCredential calls for a user without two-factor: exactly one is enabled',
    'of concurrent activations at maxActive - 1 exactly one succeeds and the others resolve full',
    'of concurrent addWebAuthnCredential calls with one credential id or one authenticator id exactly one is added',
    'addWebAuthnCredential racing the removal of the last authenticator never leaves one without recovery codes',
    'of concurrent useWebAuthnCredential calls with the same counter exactly one succeeds',
    'concurrent useWebAuthnCredential calls with increasing counters leave the highest recorded',
    'removing the last two active authenticators at once: one removed, one disabled, nothing left',
    'of concurrent removals of one authenticator exactly one resolves removed',
    'of concurrent beginSecondFactor calls with the same claim exactly one claims, and only it counts attempts',
    'of concurrent beginSecondFactor calls with distinct claims on a lockout counter at 7 with limit 10 exactly 3 are taken, as 8..10',
    'of concurrent consumeCounterAndReset calls with the same step exactly one succeeds, and the counter is reset',
    'consumeCounterAndReset racing takeAttempt calls never erases an attempt counted after the expected state',
    'of concurrent finishSecondFactor calls with the same step exactly one succeeds, and only its nonces are written',
    'putNonces is one step: no reader sees some nonces of the batch written without the others',
  ],
  'lenient-expiry': [
    'a pending authenticator is live until the millisecond before expiresAt',
    'confirm at expiresAt is refused and changes nothing',
    'a counter is live until the millisecond before expiresAt and gone at it',
    'an expired counter restarts at 1',
    'takeAttempt restarts an expired counter at 1, even one at the limit',
    'putNonce stores a value that is live until the millisecond before expiresAt',
    'claimNonce succeeds again once the nonce has expired',
    'takeNonce refuses an expired or missing nonce',
    'swapNonce refuses an expired or missing nonce and creates nothing',
    'takeNonceAndDeleteTwoFactor refuses an expired or missing nonce and changes nothing',
    'a pending authenticator is listed until the millisecond before expiresAt, and not from then on',
    'listNonces lists a nonce until the millisecond before its expiresAt, and not at it',
    'findNonces leaves out a nonce at exactly its expiresAt',
    'beginSecondFactor claims an absent nonce with its value and expiry, as claimNonce does',
    'beginSecondFactor claims again once the claimed nonce has expired',
    'beginSecondFactor counts each attempt as takeAttempt does: from 1 at now + ttl, one more with the expiry moved, an expired counter afresh',
    'beginSecondFactor reads readNonce as getNonce does: its value, or null when absent, expired or not asked',
    'putNonces writes every nonce with its value and expiry',
  ],
  'replay-equal': [
    'consumeCounter refuses the same counter again and changes nothing',
    'consumeCounterAndReset refuses what consumeCounter refuses (an equal or lower step, a pending, missing or WebAuthn authenticator) and resets nothing',
  ],
  'int32-counter': [
    'a pending authenticator round-trips every field exactly',
    'consumeCounter accepts large jumps and counters beyond 2^32',
    'a WebAuthn credential round-trips every field exactly',
    'useWebAuthnCredential accepts a higher counter and records it with backupState and lastUsedAt, nothing else',
  ],
  'second-timestamps': [
    'a pending authenticator round-trips every field exactly',
    'confirm activates the pending authenticator',
    'incrementCounter creates an absent counter at 1 expiring at now + ttl',
    'takeAttempt counts an absent counter as 1 expiring at now + ttl',
    'putNonce stores a value that is live until the millisecond before expiresAt',
    'a WebAuthn credential round-trips every field exactly',
    'useWebAuthnCredential accepts a higher counter and records it with backupState and lastUsedAt, nothing else',
    'listNonces lists the live nonces under the prefix with their value and expiry, sorted by key',
    'findNonces resolves every user with a live nonce named key, with value and expiry, sorted by user id',
    'beginSecondFactor claims an absent nonce with its value and expiry, as claimNonce does',
    'beginSecondFactor counts each attempt as takeAttempt does: from 1 at now + ttl, one more with the expiry moved, an expired counter afresh',
    'consumeCounterAndReset consumes a higher step as consumeCounter does and resets the unchanged counter',
    'putNonces writes every nonce with its value and expiry',
  ],
  'shared-records': [
    'getAuthenticator resolves a copy: changing it changes nothing stored',
    'savePendingAuthenticator stores a copy: changing the input afterwards changes nothing stored',
    'listAuthenticators resolves copies: changing them changes nothing stored',
    'addWebAuthnCredential stores a copy: changing the input afterwards changes nothing stored',
  ],
  'delete-everything': [
    "deleteTwoFactor leaves the user's failure counters and nonces",
    "takeNonceAndDeleteTwoFactor leaves other users, the user's other nonces and their counters",
  ],
  'prefix-delete': [
    'deleteTwoFactor matches the user id exactly, never as a pattern or prefix',
    "takeNonceAndDeleteTwoFactor leaves other users, the user's other nonces and their counters",
  ],
  'case-insensitive': [
    'user ids that differ only by case, spaces, accents or normalization are different users',
    'takeAttempt, resetCounterIfUnchanged and takeNonceAndDeleteTwoFactor use tricky ids and keys exactly',
    "listNonces lists only the user's own nonces, not those of a user whose id starts with it",
  ],
  'joined-keys': ['user ids and keys joined with a separator never collide'],
  'blind-reseal': ['replaceSealedSecret refuses when the secret differs from expected and changes nothing'],
  'merge-codes': [
    'replaceRecoveryCodes replaces the whole set',
    'replaceRecoveryCodes with an empty set leaves none',
  ],
  'codes-without-active': [
    'replaceRecoveryCodes refuses a user without an authenticator and stores nothing',
    'replaceRecoveryCodes refuses a user with only a pending authenticator and stores nothing',
  ],
  'max-expiry': [
    'the expiry follows the latest ttl, even a shorter one',
    'beginSecondFactor counts each attempt as takeAttempt does: from 1 at now + ttl, one more with the expiry moved, an expired counter afresh',
  ],
  'take-deletes-on-mismatch': ['takeNonce with a different value leaves the nonce in place'],
  'swap-keeps-expiry': ['swapNonce replaces a live nonce equal to expected, with the new expiry'],
  'claim-overwrites': [
    'claimNonce refuses while the nonce is live and changes nothing',
    'of concurrent claims exactly one succeeds, and its value is stored',
    'beginSecondFactor with a live claim resolves claimed false, counts nothing, reads nothing and keeps the nonce',
    'of concurrent beginSecondFactor calls with the same claim exactly one claims, and only it counts attempts',
  ],
  'confirm-ignores-secret': [
    'confirm with a different sealedSecret is refused and changes nothing',
    'confirm with the sealedSecret of a replaced enrollment is refused, and the new one stays pending',
    'confirm racing new enrollments never activates a secret it did not carry',
  ],
  'take-over-limit': [
    'at the limit takeAttempt refuses with the standing count and expiry and changes nothing',
    'takeAttempt with limit 1 takes exactly one attempt',
    'of concurrent takeAttempt calls with limit 1 exactly one is taken',
    'beginSecondFactor takes the attempts in order and stops at the first refused: later counters untouched, earlier ones and the claim kept',
    'beginSecondFactor counts each attempt as takeAttempt does: from 1 at now + ttl, one more with the expiry moved, an expired counter afresh',
    'of concurrent beginSecondFactor calls with distinct claims on a lockout counter at 7 with limit 10 exactly 3 are taken, as 8..10',
  ],
  'reset-ignores-expiry': [
    'resetCounterIfUnchanged keeps a counter whose expiry differs from the expected one',
    'consumeCounterAndReset consumes the step but keeps a counter that changed since: counted again, another expiry, or absent',
  ],
  'racy-reset': [
    'resetCounterIfUnchanged racing takeAttempt calls never erases an attempt counted after the expected state',
  ],
  'two-step-recovery': [
    'takeNonceAndDeleteTwoFactor is one step: no reader sees the nonce taken and two-factor state left, or the reverse',
  ],
  'racy-save-pending': [
    'of concurrent savePendingAuthenticator calls with different ids exactly one enrollment remains',
  ],
  'racy-add-webauthn': [
    'of concurrent addWebAuthnCredential calls for a user without two-factor exactly one is enabled, and only its codes are stored',
    'a confirm racing addWebAuthnCredential calls for a user without two-factor: exactly one is enabled',
    'of concurrent activations at maxActive - 1 exactly one succeeds and the others resolve full',
    'of concurrent addWebAuthnCredential calls with one credential id or one authenticator id exactly one is added',
    'addWebAuthnCredential racing the removal of the last authenticator never leaves one without recovery codes',
  ],
  'racy-use-webauthn': [
    'of concurrent useWebAuthnCredential calls with the same counter exactly one succeeds',
    'concurrent useWebAuthnCredential calls with increasing counters leave the highest recorded',
  ],
  'racy-remove': [
    'removing the last two active authenticators at once: one removed, one disabled, nothing left',
    'of concurrent removals of one authenticator exactly one resolves removed',
    'addWebAuthnCredential racing the removal of the last authenticator never leaves one without recovery codes',
  ],
  'pending-per-id': [
    'savePendingAuthenticator replaces every pending authenticator of the user, whatever its id',
    'of concurrent savePendingAuthenticator calls with different ids exactly one enrollment remains',
  ],
  'active-means-totp': [
    'savePendingAuthenticator refuses the id of an active WebAuthn credential and changes nothing',
    'confirm beside an active WebAuthn credential resolves added and leaves the recovery codes',
    'a further WebAuthn credential resolves added and leaves the recovery codes as they are',
    'deleteTwoFactor removes WebAuthn credentials too, and resolves true for a user with only credentials',
    'replaceRecoveryCodes replaces the codes of a user whose only active authenticator is a WebAuthn credential',
    'renameAuthenticator renames an active TOTP authenticator and a WebAuthn credential, and nothing else',
    'beginSecondFactor takes the attempts of a user with an active TOTP authenticator or WebAuthn credential',
  ],
  'confirm-replaces-codes': [
    'confirm of a further authenticator resolves added and leaves the recovery codes as they are',
    'confirm beside an active WebAuthn credential resolves added and leaves the recovery codes',
    'a WebAuthn credential beside a pending enrollment only is enabled, and the enrollment stays pending',
  ],
  'full-above-max': [
    'confirm at maxActive resolves full and changes nothing; pending ones do not count',
    'at maxActive addWebAuthnCredential resolves full and changes nothing; pending ones do not count',
    'of concurrent activations at maxActive - 1 exactly one succeeds and the others resolve full',
  ],
  'credential-id-ci': [
    'credential ids are compared exactly: ones differing by the case of a letter or the last character are others',
  ],
  'credential-id-255': [
    'a WebAuthn credential round-trips every field exactly',
    'addWebAuthnCredential refuses a credential id or an authenticator id the user has: duplicate',
  ],
  'webauthn-replay-equal': [
    'useWebAuthnCredential refuses an equal or lower counter and changes nothing',
    'of concurrent useWebAuthnCredential calls with the same counter exactly one succeeds',
  ],
  'webauthn-zero-always': [
    'useWebAuthnCredential refuses an equal or lower counter and changes nothing',
    'a credential without a counter: 0 is accepted while the stored counter is 0, and refused once it is not',
  ],
  'use-keeps-backup-state': [
    'useWebAuthnCredential accepts a higher counter and records it with backupState and lastUsedAt, nothing else',
  ],
  'rename-pending': [
    "renameAuthenticator refuses a pending, expired, missing or another user's authenticator and changes nothing",
  ],
  'remove-never-disables': [
    'removeAuthenticator of the last active one resolves disabled, and the codes and the enrollment go too',
    'removing the last two active authenticators at once: one removed, one disabled, nothing left',
    'after removeAuthenticator disabled two-factor, the next authenticator turns it on with its own codes',
  ],
  'disable-keeps-pending': [
    'removeAuthenticator of the last active one resolves disabled, and the codes and the enrollment go too',
    'removing the last two active authenticators at once: one removed, one disabled, nothing left',
  ],
  'list-includes-expired': [
    'a pending authenticator is listed until the millisecond before expiresAt, and not from then on',
    'an expired pending authenticator is not listed, even when it was the only one',
  ],
  'list-unordered': ['listAuthenticators orders by createdAt, then by id'],
  'get-sees-webauthn': [
    'getAuthenticator, consumeCounter and replaceSealedSecret see TOTP authenticators only',
  ],
  'list-nonces-like': [
    'listNonces matches the prefix literally: % _ * ? [ ] and backslash are plain characters',
  ],
  'list-nonces-ci': ['listNonces compares exactly: case, accents, width and normalization matter'],
  'list-nonces-unsorted': [
    'listNonces lists the live nonces under the prefix with their value and expiry, sorted by key',
    'listNonces matches the prefix literally: % _ * ? [ ] and backslash are plain characters',
  ],
  'find-nonces-prefix': [
    'findNonces resolves an empty list when no user has the key',
    'findNonces resolves every user with a live nonce named key, with value and expiry, sorted by user id',
    'findNonces matches the key exactly: never as a prefix, a pattern, or by case',
  ],
  'find-nonces-after-inclusive': [
    'findNonces pages with after and limit: every user exactly once, in order, across several pages',
  ],
  'find-nonces-locale-order': [
    'findNonces resolves every user with a live nonce named key, with value and expiry, sorted by user id',
    'findNonces pages with after and limit: every user exactly once, in order, across several pages',
  ],
  'begin-counts-unclaimed': [
    'beginSecondFactor with a live claim resolves claimed false, counts nothing, reads nothing and keeps the nonce',
    'of concurrent beginSecondFactor calls with the same claim exactly one claims, and only it counts attempts',
  ],
  'begin-no-stop': [
    'beginSecondFactor takes the attempts in order and stops at the first refused: later counters untouched, earlier ones and the claim kept',
  ],
  'begin-without-active': [
    'beginSecondFactor counts nothing for a user without an active authenticator: none, only a pending one, or an expired one',
  ],
  'begin-pending-is-active': [
    'beginSecondFactor counts nothing for a user without an active authenticator: none, only a pending one, or an expired one',
  ],
  'begin-no-claim-unclaimed': [
    'beginSecondFactor without a claim resolves claimed true and takes the attempts',
  ],
  'begin-lists-active-only': [
    'beginSecondFactor counts nothing for a user without an active authenticator: none, only a pending one, or an expired one',
    'beginSecondFactor resolves the authenticators as listAuthenticators lists them, both types, in its order',
  ],
  'racy-begin-claim': [
    'of concurrent beginSecondFactor calls with the same claim exactly one claims, and only it counts attempts',
  ],
  'racy-begin-attempts': [
    'of concurrent beginSecondFactor calls with distinct claims on a lockout counter at 7 with limit 10 exactly 3 are taken, as 8..10',
  ],
  'consume-reset-unconsumed': [
    'consumeCounterAndReset refuses what consumeCounter refuses (an equal or lower step, a pending, missing or WebAuthn authenticator) and resets nothing',
  ],
  'consume-reset-blind': [
    'consumeCounterAndReset consumes the step but keeps a counter that changed since: counted again, another expiry, or absent',
    'consumeCounterAndReset racing takeAttempt calls never erases an attempt counted after the expected state',
  ],
  'racy-consume-reset': [
    'of concurrent consumeCounterAndReset calls with the same step exactly one succeeds, and the counter is reset',
    'consumeCounterAndReset racing takeAttempt calls never erases an attempt counted after the expected state',
  ],
  'finish-unconsumed-nonces': [
    'finishSecondFactor refuses what consumeCounter refuses (an equal or lower step, a pending, missing or WebAuthn authenticator) and writes nothing',
    'of concurrent finishSecondFactor calls with the same step exactly one succeeds, and only its nonces are written',
  ],
  'racy-finish': [
    'of concurrent finishSecondFactor calls with the same step exactly one succeeds, and only its nonces are written',
  ],
  'put-nonces-one-by-one': [
    'putNonces is one step: no reader sees some nonces of the batch written without the others',
  ],
  'put-nonces-keeps-existing': [
    "putNonces replaces existing values and expiries, and leaves the user's other nonces and other users'",
  ],
  'atomically-no-wait': [
    'atomically: a call on the store itself, made meanwhile, waits until work has settled',
  ],
};

/**
 * Reads TAP output: for each top-level test, the names of its failing grandchildren (behaviours),
 * and those of its skipped ones with the reason (`name # reason`).
 */
function readBehaviours(tap: string): {
  failures: Map<string, Set<string>>;
  skips: Map<string, Set<string>>;
} {
  const path: string[] = [];
  const failures = new Map<string, Set<string>>();
  const skips = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, top: string, entry: string) => {
    const set = map.get(top) ?? new Set();
    set.add(entry);
    map.set(top, set);
  };
  for (const line of tap.split('\n')) {
    const subtest = /^( *)# Subtest: (.*)$/.exec(line);
    if (subtest) {
      const depth = subtest[1]!.length / 4;
      path.length = depth;
      path[depth] = subtest[2]!;
      continue;
    }
    if (path[0] === undefined) continue;
    const failed = /^ {8}not ok \d+ - (.*?)(?: # time=.*)?$/.exec(line);
    if (failed) add(failures, path[0], failed[1]!);
    const skipped = /^ {8}ok \d+ - (.*?) # SKIP (.*)$/.exec(line);
    if (skipped) add(skips, path[0], `${skipped[1]} # ${skipped[2]}`);
  }
  return { failures, skips };
}

/** The groups of the optional operations, whose behaviours skip on a store without them. */
const OPTIONAL: ReadonlyArray<[OptionalOperation, BehaviourGroup]> = [
  ['beginSecondFactor', beginSecondFactor],
  ['finishSecondFactor', finishSecondFactor],
  ['consumeCounterAndReset', consumeCounterAndReset],
  ['putNonces', putNonces],
  ['atomically', atomically],
];

const bugs = Object.keys(MUST_CATCH) as NaiveStoreBug[];
const runner = fileURLToPath(new URL('./fixtures/suite-on-buggy-stores.ts', import.meta.url));
// The children print plain TAP; drop the variables through which this runner would adopt it. Their
// own root timeout (30 s by default) is off: the deadline below applies instead.
const env = Object.fromEntries([
  ...Object.entries(process.env).filter(([name]) => !/^(TAP|_TAPJS)/.test(name) && name !== 'NODE_OPTIONS'),
  ['TAP_TIMEOUT', '0'],
]);

/**
 * Runs the suite once per name in a child process, within `timeout` ms; resolves its TAP output, and
 * why it did not run to its end (a signal or a spawn error), if it did not.
 */
function runSuites(names: readonly string[], timeout: number): Promise<{ stdout: string; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=@twofold/source', runner, names.join(',')],
      { env, timeout, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', (error) => resolve({ stdout, error: error.message }));
    child.on('close', (_code, signal) =>
      resolve(signal ? { stdout, error: `killed by ${signal}` } : { stdout }),
    );
  });
}

// A full run of the suite per bug: two children at once, each with every other name.
const names = ['none', 'no-optional', ...bugs];
const children = await Promise.all(
  [0, 1].map((half) =>
    runSuites(
      names.filter((_, index) => index % 2 === half),
      170_000,
    ),
  ),
);
const stdout = children.map((child) => child.stdout).join('\n');
const { failures, skips } = readBehaviours(stdout);

t.test('the suite runs against every buggy store', async (t) => {
  t.strictSame(
    children.map((child) => child.error),
    [undefined, undefined],
    'each child ran to its end',
  );
  t.match(stdout, /^# Subtest: none$/m, 'including once against the store without bugs');
  t.notOk(failures.has('none'), 'which passed');
  t.notOk(skips.has('none'), 'skipping nothing: it has the optional operations');
  t.strictSame([...failures.keys()].sort(), [...bugs].sort(), 'every buggy store failed somewhere');
});

t.test('on a store without the optional operations, each of their behaviours is skipped', async (t) => {
  t.match(stdout, /^# Subtest: no-optional$/m, 'the suite ran against such a store');
  t.notOk(failures.has('no-optional'), 'which passed');
  const expected = OPTIONAL.flatMap(([operation, group]) =>
    group.behaviours.map((behaviour) => `${behaviour.name} # ${notImplemented(operation)}`),
  );
  t.ok(expected.length > 0, 'the optional groups have behaviours');
  t.strictSame(
    [...(skips.get('no-optional') ?? [])].sort(),
    expected.sort(),
    'exactly those, each with the reason "<operation> is optional; this store does not implement it"',
  );
});

for (const bug of bugs) {
  t.test(`the suite catches a store with the bug "${bug}"`, async (t) => {
    const failed = failures.get(bug) ?? new Set();
    for (const behaviour of MUST_CATCH[bug]) {
      t.ok(failed.has(behaviour), `fails: ${behaviour}`);
    }
  });
}
