import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the Redis store: one per operation that reads and writes, so each runs atomically
 * on the server and no read-modify-write happens in JavaScript.
 *
 * Conventions, all scripts:
 * - Every number arrives as a decimal string in ARGV and is stored as that same string; scripts only
 *   compare numbers (`tonumber`), never format them, so nothing turns into `1e+15`. Lua numbers are
 *   doubles: TOTP counters, counts and millisecond timestamps stay far below 2^53 and compare exactly.
 * - TTLs arrive precomputed as `expiresAt - now` on the caller's clock (never an absolute PEXPIREAT),
 *   so a test clock and the server clock may differ freely. A TTL <= 0 means "already expired": the
 *   record is removed instead of written, which the contract cannot tell apart from writing it.
 * - Expiry is decided by comparing the stored `expiresAt` with the caller's `now`; the Redis TTL only
 *   collects garbage, so it may outlive `expiresAt` but never ends before it.
 * - Keys that a script derives (an authenticator hash from the user's index set) are built from a
 *   prefix that carries the user's hash tag, so they live in the same cluster slot as KEYS.
 */

/** A Lua script with its SHA1 digest, computed once when the module loads. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Keeps a user's authenticator index honest: drops ids whose hash is gone, keeps the index forever
 * while one authenticator is active, else lets it expire a second after the longest pending one.
 */
const REFRESH_INDEX = `
local function refresh_index(index, auth_prefix)
  local forever = false
  local longest = 0
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    local key = auth_prefix .. id
    local status = redis.call('HGET', key, 'status')
    if not status then
      redis.call('SREM', index, id)
    elseif status == 'active' then
      forever = true
    else
      local ttl = redis.call('PTTL', key)
      if ttl < 0 then
        forever = true
      elseif ttl > longest then
        longest = ttl
      end
    end
  end
  if forever then
    redis.call('PERSIST', index)
  elseif longest > 0 then
    redis.call('PEXPIRE', index, string.format('%.0f', longest + 1000))
  else
    redis.call('DEL', index)
  end
end
`;

/** Replaces a whole set in this one script, adding members in chunks (Lua's unpack has a stack limit). */
const REPLACE_SET = `
local function replace_set(key, values, from)
  redis.call('DEL', key)
  local last = #values
  for i = from, last, 1000 do
    redis.call('SADD', key, unpack(values, i, math.min(i + 999, last)))
  end
end
`;

/** True when one of the user's indexed authenticators is active. */
const HAS_ACTIVE = `
local function has_active(index, auth_prefix)
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    if redis.call('HGET', auth_prefix .. id, 'status') == 'active' then
      return true
    end
  end
  return false
end
`;

/**
 * KEYS: authenticator, index. ARGV: now, authenticatorId, authenticator prefix.
 * Returns the hash as a flat field/value list, or nil (an expired pending record is deleted).
 */
export const getAuthenticatorScript = script(
  'getAuthenticator',
  `${REFRESH_INDEX}
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end
local expires = redis.call('HGET', KEYS[1], 'expiresAt')
if expires and tonumber(expires) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  refresh_index(KEYS[2], ARGV[3])
  return false
end
return fields
`,
);

/**
 * KEYS: authenticator, index. ARGV: authenticatorId, authenticator prefix, ttl, field/value pairs...
 * Returns 0 when an active authenticator holds the ids, else 1.
 */
export const savePendingAuthenticatorScript = script(
  'savePendingAuthenticator',
  `${REFRESH_INDEX}
if redis.call('HGET', KEYS[1], 'status') == 'active' then
  return 0
end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[1])
end
refresh_index(KEYS[2], ARGV[2])
return 1
`,
);

/**
 * Deletes every authenticator of the user (through the index), the index and the recovery codes;
 * returns 1 when one of the authenticators was active, else 0.
 */
const DELETE_TWO_FACTOR = `
local function delete_two_factor(index, codes, auth_prefix)
  local active = 0
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    local key = auth_prefix .. id
    if redis.call('HGET', key, 'status') == 'active' then
      active = 1
    end
    redis.call('DEL', key)
  end
  redis.call('DEL', index, codes)
  return active
end
`;

/**
 * KEYS: authenticator, index, recovery codes. ARGV: authenticatorId, authenticator prefix, now,
 * counter, sealed secret, recovery code hashes... Returns 1 when it activated a live pending record
 * that still holds that sealed secret (compare-and-set), else 0.
 */
export const confirmAuthenticatorScript = script(
  'confirmAuthenticator',
  `${REFRESH_INDEX}${REPLACE_SET}
local state = redis.call('HMGET', KEYS[1], 'status', 'expiresAt', 'sealedSecret')
if state[1] ~= 'pending' then
  return 0
end
if not state[2] or tonumber(state[2]) <= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  refresh_index(KEYS[2], ARGV[2])
  return 0
end
if state[3] ~= ARGV[5] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'active', 'confirmedAt', ARGV[3], 'lastUsedAt', ARGV[3],
  'lastCounter', ARGV[4])
redis.call('HDEL', KEYS[1], 'expiresAt')
redis.call('PERSIST', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
replace_set(KEYS[3], ARGV, 6)
refresh_index(KEYS[2], ARGV[2])
return 1
`,
);

/** KEYS: authenticator. ARGV: counter, now. Returns 1 when counter > lastCounter of an active record. */
export const consumeCounterScript = script(
  'consumeCounter',
  `
local state = redis.call('HMGET', KEYS[1], 'status', 'lastCounter')
if state[1] ~= 'active' then
  return 0
end
if tonumber(ARGV[1]) <= tonumber(state[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'lastCounter', ARGV[1], 'lastUsedAt', ARGV[2])
return 1
`,
);

/** KEYS: authenticator. ARGV: expected, next. Compare-and-set of the sealed secret (keeps the TTL). */
export const replaceSealedSecretScript = script(
  'replaceSealedSecret',
  `
if redis.call('HGET', KEYS[1], 'sealedSecret') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'sealedSecret', ARGV[2])
return 1
`,
);

/**
 * KEYS: index, recovery codes. ARGV: authenticator prefix. Deletes every authenticator and the
 * recovery codes; returns 1 when one of the authenticators was active.
 */
export const deleteTwoFactorScript = script(
  'deleteTwoFactor',
  `${DELETE_TWO_FACTOR}
return delete_two_factor(KEYS[1], KEYS[2], ARGV[1])
`,
);

/**
 * KEYS: index, recovery codes. ARGV: authenticator prefix, hashes... Replaces the set only while an
 * authenticator is active; returns 1 when it did.
 */
export const replaceRecoveryCodesScript = script(
  'replaceRecoveryCodes',
  `${HAS_ACTIVE}${REPLACE_SET}
if not has_active(KEYS[1], ARGV[1]) then
  return 0
end
replace_set(KEYS[2], ARGV, 2)
return 1
`,
);

/**
 * KEYS: counter. ARGV: now, expiresAt, ttl, limit. Adds one (starting again at 1 when absent or
 * expired) and moves the expiry, except that a live counter already at the limit or above is left
 * exactly as it is (count, `e` and TTL); incrementCounter is this with an unreachable limit. Returns
 * { 1, count, expiresAt } when it counted the attempt, { 0, count, expiresAt } as stored when not.
 */
export const takeAttemptScript = script(
  'takeAttempt',
  `
local state = redis.call('HMGET', KEYS[1], 'n', 'e')
local count
if state[1] and state[2] and tonumber(state[2]) > tonumber(ARGV[1]) then
  if tonumber(state[1]) >= tonumber(ARGV[4]) then
    return { 0, state[1], state[2] }
  end
  count = redis.call('HINCRBY', KEYS[1], 'n', 1)
else
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'n', '1')
  count = 1
end
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return { 1, count, ARGV[2] }
`,
);

/**
 * KEYS: counter. ARGV: count, expiresAt. Deletes the counter only while it holds exactly that count
 * and `e` (whether or not it has expired since); returns 1 when it deleted it.
 */
export const resetCounterIfUnchangedScript = script(
  'resetCounterIfUnchanged',
  `
local state = redis.call('HMGET', KEYS[1], 'n', 'e')
if not state[1] or not state[2] then
  return 0
end
if tonumber(state[1]) ~= tonumber(ARGV[1]) or tonumber(state[2]) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`,
);

/** KEYS: counter. ARGV: now. Returns { count, expiresAt } as strings, or nil (deleting an expired one). */
export const getCounterScript = script(
  'getCounter',
  `
local state = redis.call('HMGET', KEYS[1], 'n', 'e')
if not state[1] or not state[2] then
  return false
end
if tonumber(state[2]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return false
end
return { state[1], state[2] }
`,
);

/** KEYS: nonce. ARGV: value, expiresAt, ttl (expiresAt - now). Replaces the nonce whatever it held. */
export const putNonceScript = script(
  'putNonce',
  `
redis.call('DEL', KEYS[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
`,
);

/**
 * KEYS: nonce. ARGV: now. Returns the value, or nil (deleting an expired one).
 */
export const getNonceScript = script(
  'getNonce',
  `
local state = redis.call('HMGET', KEYS[1], 'v', 'e')
if not state[1] or not state[2] then
  return false
end
local remaining = tonumber(state[2]) - tonumber(ARGV[1])
if remaining <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil(remaining)))
return state[1]
`,
);

/** KEYS: nonce. ARGV: value, expiresAt, now, ttl. Set-if-absent (or expired); returns 1 when it set. */
export const claimNonceScript = script(
  'claimNonce',
  `
local expires = redis.call('HGET', KEYS[1], 'e')
if expires and tonumber(expires) > tonumber(ARGV[3]) then
  return 0
end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
`,
);

/**
 * Lua shared by take and swap: ends the script with 0 unless the nonce at KEYS[1] is live and holds
 * ARGV[`expected`]; an expired one is deleted on the way. `now` is the ARGV index of the time.
 */
function requireLiveNonceEqual(expected: number, now: number): string {
  return `
local state = redis.call('HMGET', KEYS[1], 'v', 'e')
if not state[1] or not state[2] then
  return 0
end
if tonumber(state[2]) <= tonumber(ARGV[${now}]) then
  redis.call('DEL', KEYS[1])
  return 0
end
if state[1] ~= ARGV[${expected}] then
  return 0
end`;
}

/** KEYS: nonce. ARGV: value, now. Take-if-equal on a live nonce; returns 1 when it deleted it. */
export const takeNonceScript = script(
  'takeNonce',
  `${requireLiveNonceEqual(1, 2)}
redis.call('DEL', KEYS[1])
return 1
`,
);

/**
 * KEYS: nonce. ARGV: expected, next, expiresAt, now, ttl. Compare-and-set on a live nonce; returns 1
 * when it replaced it.
 */
export const swapNonceScript = script(
  'swapNonce',
  `${requireLiveNonceEqual(1, 4)}
if tonumber(ARGV[5]) > 0 then
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('DEL', KEYS[1])
end
return 1
`,
);

/**
 * KEYS: nonce, index, recovery codes. ARGV: value, now, authenticator prefix. Take-if-equal on a live
 * nonce and, only when it took it, the whole of deleteTwoFactor in the same script; returns 1 when it
 * did both, 0 (nothing changed) otherwise.
 */
export const takeNonceAndDeleteTwoFactorScript = script(
  'takeNonceAndDeleteTwoFactor',
  `${DELETE_TWO_FACTOR}${requireLiveNonceEqual(1, 2)}
redis.call('DEL', KEYS[1])
delete_two_factor(KEYS[2], KEYS[3], ARGV[3])
return 1
`,
);
