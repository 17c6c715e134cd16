import t from 'tap';
import { clientKey } from '../src/http/client-key.js';

t.test('IPv4 addresses key as themselves', async (t) => {
  t.equal(clientKey('203.0.113.7'), '203.0.113.7');
  t.equal(clientKey('127.0.0.1'), '127.0.0.1');
});

t.test('IPv6 addresses key by their /64, whatever the spelling', async (t) => {
  const key = clientKey('2001:db8:1:2::1');
  t.equal(key, '2001:db8:1:2::/64');
  for (const same of [
    '2001:db8:1:2:ffff:ffff:ffff:ffff',
    '2001:0db8:0001:0002:0000:0000:0000:0009',
    '2001:DB8:1:2:a:b:c:d',
    '[2001:db8:1:2::42]',
    'fe80::1%eth0'.replace('fe80::1', '2001:db8:1:2::7'),
  ]) {
    t.equal(clientKey(same), key, same);
  }
  t.not(clientKey('2001:db8:1:3::1'), key, 'the next /64 is another bucket');
  t.equal(clientKey('::1'), '::/64');
  t.equal(clientKey('::'), '::/64');
});

t.test("a /64 in CIDR form (express-rate-limit's ipKeyGenerator) keys as itself", async (t) => {
  t.equal(clientKey('2001:db8:1:2::/64'), '2001:db8:1:2::/64');
  for (const address of ['203.0.113.7', '2001:db8:1:2::1', '::ffff:203.0.113.7']) {
    t.equal(clientKey(clientKey(address)), clientKey(address), address);
  }
});

t.test('IPv4-mapped IPv6 addresses key as their IPv4 form', async (t) => {
  t.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
  t.equal(clientKey('::ffff:cb00:7107'), '203.0.113.7');
  t.equal(clientKey('::203.0.113.7'), '203.0.113.7', 'the deprecated IPv4-compatible form too');
});

t.test('missing or garbage addresses share one bucket', async (t) => {
  t.equal(clientKey(undefined), 'unknown');
  t.equal(clientKey(''), 'unknown');
  t.equal(clientKey('not an address'), 'unknown');
  t.equal(clientKey('1.2.3.4.5'), 'unknown');
});
