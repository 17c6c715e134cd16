/**
 * The child process of the memory benchmark (memory.ts), started with `--expose-gc`: enrolls and
 * confirms `users` users in a fresh memoryStore the way the engine does, and reports the heap used
 * before and after (each reading after full garbage collections), over IPC.
 *
 * argv: `<users> <variant>`; the variants take parts away to show what each costs:
 * - `engine`: what enroll + confirm leave behind (a sealed 20-byte secret, 10 recovery code hashes);
 * - `no-codes`: the same with an empty list of recovery code hashes;
 * - `flat-codes`: the same hashes, flattened (`String#normalize` on a copy) before they reach the
 *   store, to see whether the engine's concatenated strings cost more than flat ones.
 */
import {
  createKeyring,
  generateRecoveryCodes,
  hashRecoveryCode,
  memoryStore,
  normalizeRecoveryCode,
  TOTP_AUTHENTICATOR_ID,
} from '@twofold/core';
import { generateSecret } from '@twofold/otp';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('memory-worker needs node --expose-gc');

const users = Number(process.argv[2]);
const variant = process.argv[3] ?? 'engine';
if (!Number.isInteger(users) || users < 1) throw new Error('memory-worker: users must be a positive integer');

function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage().heapUsed;
}

/** A flat (sequential) copy of a string: V8 flattens a cons string when it is normalized. */
function flat(value: string): string {
  return value.normalize('NFC');
}

const keyring = createKeyring({ keys: { bench: new Uint8Array(32).fill(5) }, current: 'bench' });
// Warm every code path (and its lazily created objects) before the first reading.
{
  const warm = memoryStore();
  const now = Date.now();
  const sealedSecret = keyring.seal(generateSecret(), 'warm');
  await warm.savePendingAuthenticator(
    {
      userId: 'warm',
      type: 'totp',
      id: TOTP_AUTHENTICATOR_ID,
      name: null,
      status: 'pending',
      sealedSecret,
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
      lastCounter: -1,
      createdAt: now,
      confirmedAt: null,
      lastUsedAt: null,
      expiresAt: now + 600_000,
    },
    now,
  );
  const codes = generateRecoveryCodes(10).map((code) =>
    hashRecoveryCode(keyring, 'warm', normalizeRecoveryCode(code)!),
  );
  await warm.confirmAuthenticator('warm', TOTP_AUTHENTICATOR_ID, {
    sealedSecret,
    counter: 1,
    recoveryCodeHashes: codes,
    maxActive: 10,
    now,
  });
}

const before = heapAfterGc();
const store = memoryStore();
const started = performance.now();
for (let n = 0; n < users; n++) {
  const userId = `user-${n}`;
  const now = Date.now();
  const sealedSecret = keyring.seal(generateSecret(), userId);
  await store.savePendingAuthenticator(
    {
      userId,
      type: 'totp',
      id: TOTP_AUTHENTICATOR_ID,
      name: null,
      status: 'pending',
      sealedSecret,
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
      lastCounter: -1,
      createdAt: now,
      confirmedAt: null,
      lastUsedAt: null,
      expiresAt: now + 600_000,
    },
    now,
  );
  let hashes: string[] = [];
  if (variant !== 'no-codes') {
    hashes = generateRecoveryCodes(10).map((code) =>
      hashRecoveryCode(keyring, userId, normalizeRecoveryCode(code)!),
    );
    if (variant === 'flat-codes') hashes = hashes.map(flat);
  }
  const confirmed = await store.confirmAuthenticator(userId, TOTP_AUTHENTICATOR_ID, {
    sealedSecret,
    counter: Math.floor(now / 30_000),
    recoveryCodeHashes: hashes,
    maxActive: 10,
    now,
  });
  if (confirmed !== 'enabled') throw new Error(`memory-worker: ${userId} was not confirmed`);
}
const enrollMs = performance.now() - started;
const after = heapAfterGc();
// Still reachable here, so the second reading counts it.
const check = await store.countRecoveryCodes(`user-${users - 1}`);
process.send!({ users, variant, before, after, enrollMs, codesOfLastUser: check });
