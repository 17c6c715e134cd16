import { isIPv4 } from 'node:net';
import { Address6 } from 'ip-address';

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

/** IPv6 clients are keyed by their /64: one allocation to one subscriber. */
const IPV6_PREFIX_LENGTH = 64;
/** Where the deprecated IPv4-compatible form (`::203.0.113.7`) lives. */
const IPV4_COMPATIBLE = new Address6('::/96');

/**
 * The rate-limit key of a client address: an IPv4 address as is, an IPv6 address by its /64 in the
 * network form of `ip-address` (the library under @fastify/rate-limit's and express-rate-limit's own
 * helpers), so rotating inside one allocation does not escape a limit; an IPv4 address in IPv6
 * dress (`::ffff:203.0.113.7`, `::ffff:cb00:7107`, the deprecated `::203.0.113.7`) as its IPv4 form,
 * as express-rate-limit's `ipKeyGenerator` does. A network in CIDR form (express-rate-limit's `ipKeyGenerator`) keys as its /64,
 * so the key of a key is itself. Anything else (a missing address) keys as `unknown`.
 *
 * @example clientKey('2001:db8:1:2:aaaa::1') // '2001:db8:1:2::/64'
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(bare)) return bare;
  if (!Address6.isValid(bare)) return 'unknown';
  const ipv6 = new Address6(bare);
  if (ipv6.isMapped4() || (ipv6.is4() && ipv6.isInSubnet(IPV4_COMPATIBLE))) return ipv6.to4().correctForm();
  return new Address6(`${ipv6.correctForm()}/${IPV6_PREFIX_LENGTH}`).networkForm();
}
