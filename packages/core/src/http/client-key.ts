import { isIPv4, isIPv6 } from 'node:net';

/**
 * Where both adapters keep rate-limit counts in a shared Redis: `twofold:rl:<client>:<route id>`.
 * Fastify and Express use the same keys and the same fixed window (INCR, PEXPIRE on the first hit),
 * so a mixed deployment shares one count per client and route.
 */
export const RATE_LIMIT_REDIS_PREFIX = 'twofold:rl:';

/** The rate-limit key of a request (after the prefix): the client's address key and the route id. */
export function rateLimitKey(address: string | undefined, routeId: string): string {
  return `${clientKey(address)}:${routeId}`;
}

/**
 * The rate-limit key of a client address: an IPv4 address as is, an IPv6 address by its /64 (one
 * allocation to one subscriber, so rotating inside it does not escape a limit), an IPv4-mapped IPv6
 * address as its IPv4 form. Anything else (a missing address) keys as `unknown`.
 *
 * @example clientKey('2001:db8:1:2:aaaa::1') // '2001:db8:1:2::/64'
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const zoneless = bare.split('%')[0]!;
  if (isIPv4(zoneless)) return zoneless;
  if (!isIPv6(zoneless)) return 'unknown';
  const groups = expandIPv6(zoneless);
  const mapped = /^0:0:0:0:0:ffff:/.test(groups.join(':'));
  if (mapped) {
    const high = Number.parseInt(groups[6]!, 16);
    const low = Number.parseInt(groups[7]!, 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, lowercase, without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const parts = v4[1]!.split('.').map(Number);
    const hex = `${((parts[0]! << 8) | parts[1]!).toString(16)}:${((parts[2]! << 8) | parts[3]!).toString(16)}`;
    text = text.slice(0, -v4[1]!.length) + hex;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array.from({ length: missing }, () => '0'), ...right].map((group) =>
    Number.parseInt(group, 16).toString(16),
  );
}
