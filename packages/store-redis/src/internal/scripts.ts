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
 * - An authenticator hash is active when its `status` field is `active`, whatever its `type`: a
 *   WebAuthn credential is written with `status` = `active`, so every rule that counts or looks for
 *   active authenticators (the index TTL, has_active, delete_two_factor) sees both types alike. A
 *   hash without `type` is a TOTP authenticator written by layout version 1.
 * - Scripts that resolve one of several outcomes answer its name as a status string (`'enabled'`,
 *   `'missing'`...); the others answer 1 for done and 0 for refused.
 * - An operation whose work another script also does is a Lua function here (take_attempt,
 *   claim_nonce, put_nonce, get_nonce, read_authenticators, consume_counter,
 *   reset_counter_if_unchanged): its own script calls it, and so do the shortcuts that do several
 *   operations in one round trip (beginSecondFactor, consumeCounterAndReset, putNonces), so both
 *   run the same code on the same keys and fields.
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

/** How many of the user's indexed authenticators (of both types) are active. */
const COUNT_ACTIVE = `
local function count_active(index, auth_prefix)
  local active = 0
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    if redis.call('HGET', auth_prefix .. id, 'status') == 'active' then
      active = active + 1
    end
  end
  return active
end
`;

/**
 * Walks the user's index (with REFRESH_INDEX): deletes the pending hashes that expired by the
 * caller's clock and drops their ids, and the ids whose hash is gone, then sets the index TTL again
 * when it dropped any. Returns the ids of the live authenticators and how many of them are active.
 */
const LIVE_IDS = `
local function live_ids(index, auth_prefix, now)
  local ids = {}
  local active = 0
  local dropped = false
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    local key = auth_prefix .. id
    local state = redis.call('HMGET', key, 'status', 'expiresAt')
    if not state[1] then
      redis.call('SREM', index, id)
      dropped = true
    elseif state[1] == 'active' then
      active = active + 1
      ids[#ids + 1] = id
    elseif state[2] and tonumber(state[2]) <= now then
      redis.call('DEL', key)
      redis.call('SREM', index, id)
      dropped = true
    else
      ids[#ids + 1] = id
    end
  end
  if dropped then
    refresh_index(index, auth_prefix)
  end
  return ids, active
end
`;

/**
 * KEYS: authenticator, index. ARGV: now, authenticatorId, authenticator prefix.
 * Returns the hash as a flat field/value list, or nil (an expired pending record is deleted). A
 * WebAuthn hash is answered too; the store turns it into null (getAuthenticator is TOTP only).
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
 * listAuthenticators' work (needs REFRESH_INDEX and LIVE_IDS): one `{ id, field/value list }` per
 * live authenticator of the user, of both types, in no particular order (the store sorts them), and
 * how many of them are active; expired pending hashes are deleted on the way.
 */
const READ_AUTHENTICATORS = `
local function read_authenticators(index, auth_prefix, now)
  local ids, active = live_ids(index, auth_prefix, tonumber(now))
  local found = {}
  for i, id in ipairs(ids) do
    found[i] = { id, redis.call('HGETALL', auth_prefix .. id) }
  end
  return found, active
end
`;

/** KEYS: index. ARGV: now, authenticator prefix. Returns what read_authenticators found. */
export const listAuthenticatorsScript = script(
  'listAuthenticators',
  `${REFRESH_INDEX}${LIVE_IDS}${READ_AUTHENTICATORS}
local found = read_authenticators(KEYS[1], ARGV[2], ARGV[1])
return found
`,
);

/**
 * KEYS: authenticator, index. ARGV: authenticatorId, authenticator prefix, ttl, field/value pairs...
 * Returns 0 when an active authenticator (of either type) holds the id; else deletes every pending
 * authenticator of the user (expired or not: one enrollment at a time), writes this one and returns 1.
 */
export const savePendingAuthenticatorScript = script(
  'savePendingAuthenticator',
  `${REFRESH_INDEX}
if redis.call('HGET', KEYS[1], 'status') == 'active' then
  return 0
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[2] .. id
  if redis.call('HGET', key, 'status') ~= 'active' then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[2], id)
  end
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
 * counter, sealed secret, maxActive, recovery code hashes... Activates a live pending record that
 * still holds that sealed secret (compare-and-set) unless the user has maxActive active
 * authenticators; replaces the recovery codes only when it is the first active one. Returns
 * `'enabled'`, `'added'`, `'full'` or `'missing'`.
 */
export const confirmAuthenticatorScript = script(
  'confirmAuthenticator',
  `${REFRESH_INDEX}${REPLACE_SET}${COUNT_ACTIVE}
local state = redis.call('HMGET', KEYS[1], 'status', 'expiresAt', 'sealedSecret')
if state[1] ~= 'pending' then
  return 'missing'
end
if not state[2] or tonumber(state[2]) <= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  refresh_index(KEYS[2], ARGV[2])
  return 'missing'
end
if state[3] ~= ARGV[5] then
  return 'missing'
end
local active = count_active(KEYS[2], ARGV[2])
if active >= tonumber(ARGV[6]) then
  return 'full'
end
redis.call('HSET', KEYS[1], 'status', 'active', 'confirmedAt', ARGV[3], 'lastUsedAt', ARGV[3],
  'lastCounter', ARGV[4])
redis.call('HDEL', KEYS[1], 'expiresAt')
redis.call('PERSIST', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
refresh_index(KEYS[2], ARGV[2])
if active > 0 then
  return 'added'
end
replace_set(KEYS[3], ARGV, 7)
return 'enabled'
`,
);

/**
 * KEYS: authenticator, index, recovery codes. ARGV: authenticatorId, authenticator prefix, now,
 * credentialId, maxActive, field count, field/value pairs..., recovery code hashes... Writes the
 * WebAuthn hash unless the user has a live authenticator with that id or a credential with that
 * credential id (`'duplicate'`) or maxActive active ones (`'full'`); writes the recovery codes only
 * when it is the first active one. Returns `'enabled'`, `'added'`, `'full'` or `'duplicate'`.
 */
export const addWebAuthnCredentialScript = script(
  'addWebAuthnCredential',
  `${REFRESH_INDEX}${REPLACE_SET}${LIVE_IDS}
local now = tonumber(ARGV[3])
local ids, active = live_ids(KEYS[2], ARGV[2], now)
local state = redis.call('HMGET', KEYS[1], 'status', 'expiresAt')
if state[1] then
  if state[1] == 'active' or not state[2] or tonumber(state[2]) > now then
    return 'duplicate'
  end
  redis.call('DEL', KEYS[1])
end
for _, id in ipairs(ids) do
  if redis.call('HGET', ARGV[2] .. id, 'credentialId') == ARGV[4] then
    return 'duplicate'
  end
end
if active >= tonumber(ARGV[5]) then
  return 'full'
end
local last = 6 + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], unpack(ARGV, 7, last))
redis.call('SADD', KEYS[2], ARGV[1])
refresh_index(KEYS[2], ARGV[2])
if active > 0 then
  return 'added'
end
replace_set(KEYS[3], ARGV, last + 1)
return 'enabled'
`,
);

/**
 * KEYS: authenticator. ARGV: counter, backupState, now. Returns 1 when the hash is a WebAuthn
 * credential and the counter is above the stored one, or both are 0, after setting `counter`,
 * `backupState` and `lastUsedAt`; else 0.
 */
export const useWebAuthnCredentialScript = script(
  'useWebAuthnCredential',
  `
local state = redis.call('HMGET', KEYS[1], 'type', 'counter')
if state[1] ~= 'webauthn' or not state[2] then
  return 0
end
local presented = tonumber(ARGV[1])
local stored = tonumber(state[2])
if not (presented > stored or (presented == 0 and stored == 0)) then
  return 0
end
redis.call('HSET', KEYS[1], 'counter', ARGV[1], 'backupState', ARGV[2], 'lastUsedAt', ARGV[3])
return 1
`,
);

/** KEYS: authenticator. ARGV: name. Renames an active authenticator (either type); returns 1 when it did. */
export const renameAuthenticatorScript = script(
  'renameAuthenticator',
  `
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then
  return 0
end
redis.call('HSET', KEYS[1], 'name', ARGV[1])
return 1
`,
);

/**
 * consumeCounter's work: returns 1 after setting `lastCounter` and `lastUsedAt` when counter >
 * lastCounter of an active TOTP record, else 0 (a WebAuthn hash has no `lastCounter`).
 */
const CONSUME_COUNTER = `
local function consume_counter(key, counter, now)
  local state = redis.call('HMGET', key, 'status', 'lastCounter', 'type')
  if state[1] ~= 'active' or state[3] == 'webauthn' or not state[2] then
    return 0
  end
  if tonumber(counter) <= tonumber(state[2]) then
    return 0
  end
  redis.call('HSET', key, 'lastCounter', counter, 'lastUsedAt', now)
  return 1
end
`;

/** KEYS: authenticator. ARGV: counter, now. Returns what consume_counter did (1 or 0). */
export const consumeCounterScript = script(
  'consumeCounter',
  `${CONSUME_COUNTER}
return consume_counter(KEYS[1], ARGV[1], ARGV[2])
`,
);

/**
 * KEYS: authenticator. ARGV: expected, next. Compare-and-set of the sealed secret (keeps the TTL); a
 * WebAuthn hash has no `sealedSecret`, so it never matches.
 */
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
 * KEYS: authenticator, index, recovery codes. ARGV: authenticatorId, authenticator prefix. Deletes an
 * active authenticator (either type). When no other active one is left, deletes in the same script
 * every pending one, the index and the recovery codes (2FA off). Returns `'removed'`, `'disabled'`
 * or `'missing'` (no active authenticator with that id: nothing changed).
 */
export const removeAuthenticatorScript = script(
  'removeAuthenticator',
  `${REFRESH_INDEX}${HAS_ACTIVE}${DELETE_TWO_FACTOR}
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then
  return 'missing'
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if has_active(KEYS[2], ARGV[2]) then
  refresh_index(KEYS[2], ARGV[2])
  return 'removed'
end
delete_two_factor(KEYS[2], KEYS[3], ARGV[2])
return 'disabled'
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
 * takeAttempt's work on the counter `key`: adds one (starting again at 1 when absent or expired) and
 * moves the expiry to `expires` (TTL `ttl`), except that a live counter already at `limit` or above
 * is left exactly as it is (count, `e` and TTL); incrementCounter is this with an unreachable limit.
 * Returns { 1, count, expiresAt } when it counted the attempt, { 0, count, expiresAt } as stored
 * when not.
 */
const TAKE_ATTEMPT = `
local function take_attempt(key, now, expires, ttl, limit)
  local state = redis.call('HMGET', key, 'n', 'e')
  local count
  if state[1] and state[2] and tonumber(state[2]) > tonumber(now) then
    if tonumber(state[1]) >= tonumber(limit) then
      return { 0, state[1], state[2] }
    end
    count = redis.call('HINCRBY', key, 'n', 1)
  else
    redis.call('DEL', key)
    redis.call('HSET', key, 'n', '1')
    count = 1
  end
  if tonumber(ttl) > 0 then
    redis.call('HSET', key, 'e', expires)
    redis.call('PEXPIRE', key, ttl)
  else
    redis.call('DEL', key)
  end
  return { 1, count, expires }
end
`;

/** KEYS: counter. ARGV: now, expiresAt, ttl, limit. Returns what take_attempt answers. */
export const takeAttemptScript = script(
  'takeAttempt',
  `${TAKE_ATTEMPT}
return take_attempt(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`,
);

/**
 * resetCounterIfUnchanged's work: deletes the counter `key` only while it holds exactly that count
 * and `e` (whether or not it has expired since); returns 1 when it deleted it.
 */
const RESET_COUNTER_IF_UNCHANGED = `
local function reset_counter_if_unchanged(key, count, expires)
  local state = redis.call('HMGET', key, 'n', 'e')
  if not state[1] or not state[2] then
    return 0
  end
  if tonumber(state[1]) ~= tonumber(count) or tonumber(state[2]) ~= tonumber(expires) then
    return 0
  end
  redis.call('DEL', key)
  return 1
end
`;

/** KEYS: counter. ARGV: count, expiresAt. Returns what reset_counter_if_unchanged did (1 or 0). */
export const resetCounterIfUnchangedScript = script(
  'resetCounterIfUnchanged',
  `${RESET_COUNTER_IF_UNCHANGED}
return reset_counter_if_unchanged(KEYS[1], ARGV[1], ARGV[2])
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

/**
 * Upkeep of a user's nonce index `<user>ni`, a sorted set with one member per nonce the current
 * layout wrote: member = the nonce key, score = its expiresAt (ms, the caller's clock). Every script
 * that writes or deletes a nonce keeps it in the same run, so it never needs a round trip of its
 * own; the index shares the user's hash tag, so the scripts stay in one cluster slot.
 *
 * tidy_nonce_index drops the members expired by the caller's clock (score <= now), then makes the
 * index live at least a second past its latest member: PEXPIRE relative to `now`, like every TTL
 * here, and never shortening a TTL already longer (another process's clock may run behind this
 * one). An index whose last member goes is deleted by Redis itself (an empty sorted set is no key).
 * Only ZRANGE, ZADD, ZREM, ZREMRANGEBYSCORE, PTTL and PEXPIRE: nothing newer than Redis 2.6.
 */
const NONCE_INDEX = `
local function tidy_nonce_index(index, now)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if #last == 0 then
    return
  end
  local wanted = math.ceil(tonumber(last[2]) - tonumber(now)) + 1000
  if redis.call('PTTL', index) < wanted then
    redis.call('PEXPIRE', index, string.format('%.0f', wanted))
  end
end

local function index_nonce(index, member, expires, ttl, now)
  if tonumber(ttl) > 0 then
    redis.call('ZADD', index, expires, member)
  else
    redis.call('ZREM', index, member)
  end
  tidy_nonce_index(index, now)
end
`;

/**
 * putNonce's work (needs NONCE_INDEX): replaces the nonce hash `key` whatever it held (value, `e`
 * = expires, TTL `ttl`; removed instead when `ttl` <= 0) and its member `member` of the index.
 */
const PUT_NONCE = `
local function put_nonce(key, index, member, value, expires, ttl, now)
  redis.call('DEL', key)
  if tonumber(ttl) > 0 then
    redis.call('HSET', key, 'v', value, 'e', expires)
    redis.call('PEXPIRE', key, ttl)
  end
  index_nonce(index, member, expires, ttl, now)
end
`;

/**
 * claimNonce's work (needs NONCE_INDEX and PUT_NONCE): set-if-absent (or expired); returns 1 when it
 * set (and indexed) the nonce, 0 when a live one holds the key (a refusal touches nothing).
 */
const CLAIM_NONCE = `
local function claim_nonce(key, index, member, value, expires, ttl, now)
  local stored = redis.call('HGET', key, 'e')
  if stored and tonumber(stored) > tonumber(now) then
    return 0
  end
  put_nonce(key, index, member, value, expires, ttl, now)
  return 1
end
`;

/**
 * getNonce's work: the value of the live nonce `key`, or false (deleting an expired one and its
 * member of the index).
 */
const GET_NONCE = `
local function get_nonce(key, index, member, now)
  local state = redis.call('HMGET', key, 'v', 'e')
  if not state[1] or not state[2] then
    return false
  end
  local remaining = tonumber(state[2]) - tonumber(now)
  if remaining <= 0 then
    redis.call('DEL', key)
    redis.call('ZREM', index, member)
    return false
  end
  redis.call('PEXPIRE', key, string.format('%.0f', math.ceil(remaining)))
  return state[1]
end
`;

/**
 * KEYS: nonce, nonce index. ARGV: value, expiresAt, ttl (expiresAt - now), nonce key, now. Replaces
 * the nonce whatever it held, and its index entry.
 */
export const putNonceScript = script(
  'putNonce',
  `${NONCE_INDEX}${PUT_NONCE}
put_nonce(KEYS[1], KEYS[2], ARGV[4], ARGV[1], ARGV[2], ARGV[3], ARGV[5])
return 1
`,
);

/**
 * KEYS: nonce, nonce index. ARGV: now, nonce key. Returns the value, or nil (deleting an expired one
 * and its index entry).
 */
export const getNonceScript = script(
  'getNonce',
  `${GET_NONCE}
return get_nonce(KEYS[1], KEYS[2], ARGV[2], ARGV[1])
`,
);

/**
 * KEYS: nonce, nonce index. ARGV: value, expiresAt, now, ttl, nonce key. Set-if-absent (or expired);
 * returns 1 when it set (and indexed) it; a refusal touches nothing.
 */
export const claimNonceScript = script(
  'claimNonce',
  `${NONCE_INDEX}${PUT_NONCE}${CLAIM_NONCE}
return claim_nonce(KEYS[1], KEYS[2], ARGV[5], ARGV[1], ARGV[2], ARGV[4], ARGV[3])
`,
);

/**
 * Lua shared by take and swap: ends the script with 0 unless the nonce at KEYS[1] is live and holds
 * ARGV[`expected`]; an expired one is deleted on the way, with its member of the index
 * KEYS[`index`]. `now` and `member` are the ARGV indexes of the time and of the nonce key.
 */
function requireLiveNonceEqual(expected: number, now: number, index: number, member: number): string {
  return `
local state = redis.call('HMGET', KEYS[1], 'v', 'e')
if not state[1] or not state[2] then
  return 0
end
if tonumber(state[2]) <= tonumber(ARGV[${now}]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[${index}], ARGV[${member}])
  return 0
end
if state[1] ~= ARGV[${expected}] then
  return 0
end`;
}

/**
 * KEYS: nonce, nonce index. ARGV: value, now, nonce key. Take-if-equal on a live nonce; returns 1
 * when it deleted it (and its index entry).
 */
export const takeNonceScript = script(
  'takeNonce',
  `${NONCE_INDEX}${requireLiveNonceEqual(1, 2, 2, 3)}
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
tidy_nonce_index(KEYS[2], ARGV[2])
return 1
`,
);

/**
 * KEYS: nonce, nonce index. ARGV: expected, next, expiresAt, now, ttl, nonce key. Compare-and-set on
 * a live nonce; returns 1 when it replaced it (the index entry takes the new expiry).
 */
export const swapNonceScript = script(
  'swapNonce',
  `${NONCE_INDEX}${requireLiveNonceEqual(1, 4, 2, 6)}
if tonumber(ARGV[5]) > 0 then
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('DEL', KEYS[1])
end
index_nonce(KEYS[2], ARGV[6], ARGV[3], ARGV[5], ARGV[4])
return 1
`,
);

/** KEYS: nonce, nonce index. ARGV: nonce key. Deletes the nonce, whatever it held, and its index entry. */
export const deleteNonceScript = script(
  'deleteNonce',
  `
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`,
);

/**
 * KEYS: nonce, index, recovery codes, nonce index. ARGV: value, now, authenticator prefix, nonce key.
 * Take-if-equal on a live nonce and, only when it took it (and dropped its index entry), the whole
 * of deleteTwoFactor in the same script; returns 1 when it did both, 0 (nothing changed) otherwise.
 */
export const takeNonceAndDeleteTwoFactorScript = script(
  'takeNonceAndDeleteTwoFactor',
  `${DELETE_TWO_FACTOR}${NONCE_INDEX}${requireLiveNonceEqual(1, 2, 4, 4)}
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[4], ARGV[4])
tidy_nonce_index(KEYS[4], ARGV[2])
delete_two_factor(KEYS[2], KEYS[3], ARGV[3])
return 1
`,
);

/**
 * KEYS: nonce index. ARGV: now, nonce prefix (`<user>n:`), key prefix. Walks the index members
 * scored after `now` (ZRANGEBYSCORE; the scores differ, so ZRANGEBYLEX cannot narrow by prefix) and
 * keeps those whose key starts with the key prefix (a plain byte compare with string.sub: no pattern
 * characters). Reads each one's hash: answers `{ key, value, expiresAt }` per live nonce, in no
 * particular order (the store sorts by UTF-16 code units; Lua would sort UTF-8 bytes), and removes
 * from the index the members whose hash is gone. A nonce without an index entry is not seen.
 */
export const listNoncesScript = script(
  'listNonces',
  `
local now = tonumber(ARGV[1])
local prefix = ARGV[3]
local found = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  if string.sub(member, 1, #prefix) == prefix then
    local state = redis.call('HMGET', ARGV[2] .. member, 'v', 'e')
    if not state[1] and not state[2] then
      redis.call('ZREM', KEYS[1], member)
    elseif state[1] and state[2] and tonumber(state[2]) > now then
      found[#found + 1] = { member, state[1], state[2] }
    end
  end
end
return found
`,
);

/**
 * KEYS: nonce hashes, all of one user (one slot) or a single one (findNonces reads one at a time).
 * ARGV: now. Answers, for each key in order, `{ value, expiresAt }` when the nonce is live and false otherwise. Reads only: an expired
 * nonce is left to its TTL.
 */
export const readNoncesScript = script(
  'readNonces',
  `
local now = tonumber(ARGV[1])
local result = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'v', 'e')
  if state[1] and state[2] and tonumber(state[2]) > now then
    result[i] = { state[1], state[2] }
  else
    result[i] = false
  end
end
return result
`,
);

/**
 * KEYS: nonce index, authenticator index, then the claim's nonce (only when ARGV[3] is `1`), the
 * nonce to read (only when ARGV[8] is `1`), then one counter per attempt, in order. ARGV: now,
 * authenticator prefix, claim flag, claim key, claim value, claim expiresAt, claim ttl, read flag,
 * read key, then per attempt its expiresAt, ttl and limit.
 *
 * beginSecondFactor in one script, built from the same functions as claimNonce, listAuthenticators,
 * takeAttempt and getNonce: claims the nonce (a refusal answers { 0 } and does nothing else), reads
 * the user's authenticators, counts the attempts in order only when one of them is active, stopping
 * after the first refused, and reads the nonce. Answers { 1, authenticators (as
 * listAuthenticators), attempt states (as takeAttempt), value or nil }.
 */
export const beginSecondFactorScript = script(
  'beginSecondFactor',
  `${REFRESH_INDEX}${LIVE_IDS}${READ_AUTHENTICATORS}${NONCE_INDEX}${PUT_NONCE}${CLAIM_NONCE}${GET_NONCE}${TAKE_ATTEMPT}
local now = ARGV[1]
local next_key = 3
if ARGV[3] == '1' then
  if claim_nonce(KEYS[next_key], KEYS[1], ARGV[4], ARGV[5], ARGV[6], ARGV[7], now) == 0 then
    return { 0 }
  end
  next_key = next_key + 1
end
local read_key = false
if ARGV[8] == '1' then
  read_key = KEYS[next_key]
  next_key = next_key + 1
end
local found, active = read_authenticators(KEYS[2], ARGV[2], now)
local attempts = {}
if active > 0 then
  for i = next_key, #KEYS do
    local arg = 10 + (i - next_key) * 3
    local state = take_attempt(KEYS[i], now, ARGV[arg], ARGV[arg + 1], ARGV[arg + 2])
    attempts[#attempts + 1] = state
    if state[1] == 0 then
      break
    end
  end
end
local nonce = false
if read_key then
  nonce = get_nonce(read_key, KEYS[1], ARGV[9], now)
end
return { 1, found, attempts, nonce }
`,
);

/**
 * KEYS: authenticator, counter. ARGV: counter, now, expected count, expected expiresAt.
 * consumeCounter and, only when it consumed the step, resetCounterIfUnchanged, in one script.
 * Returns 1 when it consumed the step (whatever the reset did), else 0 (nothing changed).
 */
export const consumeCounterAndResetScript = script(
  'consumeCounterAndReset',
  `${CONSUME_COUNTER}${RESET_COUNTER_IF_UNCHANGED}
if consume_counter(KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
reset_counter_if_unchanged(KEYS[2], ARGV[3], ARGV[4])
return 1
`,
);

/**
 * KEYS: authenticator, counter, nonce index, then one nonce hash per nonce. ARGV: counter, now,
 * expected count, expected expiresAt, then per nonce its key, value, expiresAt and ttl.
 * finishSecondFactor: consumeCounter and, only when it consumed the step, resetCounterIfUnchanged
 * and putNonce for each nonce, in one script. The nonce index is tidied first (as putNoncesScript
 * does), so a key of another type there fails the script before anything is written. Returns 1 when
 * it consumed the step, else 0 (nothing changed).
 */
export const finishSecondFactorScript = script(
  'finishSecondFactor',
  `${CONSUME_COUNTER}${RESET_COUNTER_IF_UNCHANGED}${NONCE_INDEX}${PUT_NONCE}
local now = ARGV[2]
if #KEYS > 3 then
  tidy_nonce_index(KEYS[3], now)
end
if consume_counter(KEYS[1], ARGV[1], now) == 0 then
  return 0
end
reset_counter_if_unchanged(KEYS[2], ARGV[3], ARGV[4])
for i = 4, #KEYS do
  local arg = 5 + (i - 4) * 4
  put_nonce(KEYS[i], KEYS[3], ARGV[arg], ARGV[arg + 1], ARGV[arg + 2], ARGV[arg + 3], now)
end
return 1
`,
);

/**
 * KEYS: nonce index, then one nonce hash per nonce. ARGV: now, then per nonce its key, value,
 * expiresAt and ttl. putNonce for each, in one script. It tidies the index first: a key of another
 * type there (the only write that could fail, since the store checked the numbers) fails the script
 * before any nonce is written, so it writes all or none.
 */
export const putNoncesScript = script(
  'putNonces',
  `${NONCE_INDEX}${PUT_NONCE}
local now = ARGV[1]
tidy_nonce_index(KEYS[1], now)
for i = 2, #KEYS do
  local arg = 2 + (i - 2) * 4
  put_nonce(KEYS[i], KEYS[1], ARGV[arg], ARGV[arg + 1], ARGV[arg + 2], ARGV[arg + 3], now)
end
return 1
`,
);
