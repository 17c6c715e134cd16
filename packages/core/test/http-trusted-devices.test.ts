import t from 'tap';
import { createTrustedDevices } from '../src/http/trusted-devices.js';
import { memoryStore } from '../src/index.js';
import { fakeClock, testKeyring } from './helpers.js';

function setup(maxAgeDays = 2) {
  const clock = fakeClock();
  const store = memoryStore();
  const devices = createTrustedDevices({
    keyring: testKeyring(),
    issuer: 'Acme',
    store,
    clock: clock.now,
    maxAgeDays,
  });
  return { clock, store, devices };
}

t.test('names from the User-Agent when none is given; the list, most recently used first', async (t) => {
  const { devices, clock } = setup();
  const agents = [
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/140.0 Safari/537.36 Edg/140.0',
    'curl/8.0',
    null,
  ];
  for (const userAgent of agents) {
    await devices.trust('user-1', { userAgent, ip: '192.0.2.1' }, undefined);
    clock.advance(1000);
  }
  await devices.trust('user-1', undefined, '  My  laptop  ');
  const listed = await devices.list('user-1');
  t.strictSame(
    listed.map((device) => device.name),
    ['My  laptop', 'A device', 'A device', 'Edge on Windows', 'Safari on iPhone'],
  );
  t.strictSame(await devices.list('user-2'), []);
});

t.test('a token is refused for another user, once expired, or when malformed', async (t) => {
  const { devices, clock } = setup(1);
  const { token } = await devices.trust('user-1', undefined, 'Phone');
  t.equal(await devices.use('user-2', token, undefined), null, "another user's device");
  for (const bad of ['', null, undefined, 'x.y.z', 42]) {
    t.equal(await devices.use('user-1', bad, undefined), null, `malformed: ${String(bad)}`);
  }
  const next = await devices.use('user-1', token, undefined);
  t.type(next, 'string', 'the right user: a next token');
  clock.advance(86_400_000);
  t.equal(await devices.use('user-1', next, undefined), null, 'expired with the trust');
});
