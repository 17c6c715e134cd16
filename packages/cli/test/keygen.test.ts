import { parseKeyring } from '@twofold/core';
import t from 'tap';
import { runCli } from './helpers.js';

t.test('keygen prints one tag:key entry that parseKeyring accepts, dated tag by default', async (t) => {
  const { code, stdout, stderr } = await runCli(['keygen']);
  t.equal(code, 0);
  t.equal(stderr, '');
  t.match(stdout, /^k\d{8}-[0-9a-f]{4}:[A-Za-z0-9_-]{43}\n$/);
  const keyring = parseKeyring(stdout.trim());
  t.equal(keyring.currentTag, stdout.slice(0, stdout.indexOf(':')));
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
  t.ok([today, yesterday].includes(stdout.slice(1, 9)), 'the tag carries the UTC date');
});

t.test('keygen --tag uses the tag; two runs never give the same key', async (t) => {
  const first = await runCli(['keygen', '--tag', 'prod-2026_a']);
  const second = await runCli(['keygen', '--tag', 'prod-2026_a']);
  t.equal(first.code, 0);
  t.match(first.stdout, /^prod-2026_a:[A-Za-z0-9_-]{43}\n$/);
  t.not(first.stdout, second.stdout);
  // Two entries with distinct keys make a valid two-key keyring.
  t.strictSame(
    parseKeyring(`new:${first.stdout.trim().split(':')[1]},old:${second.stdout.trim().split(':')[1]}`).tags,
    ['new', 'old'],
  );
});

t.test('keygen --env prints a shell assignment of TWOFOLD_KEYS', async (t) => {
  const { code, stdout } = await runCli(['keygen', '--env', '--tag', 'k1']);
  t.equal(code, 0);
  t.match(stdout, /^TWOFOLD_KEYS=k1:[A-Za-z0-9_-]{43}\n$/);
});

t.test('keygen refuses a bad tag with exit 2', async (t) => {
  for (const tag of ['has space', 'a:b', 'x'.repeat(33), '']) {
    const { code, stdout, stderr } = await runCli(['keygen', `--tag=${tag}`]);
    t.equal(code, 2, JSON.stringify(tag));
    t.equal(stdout, '', 'no key printed');
    t.match(stderr, /^twofold keygen: --tag must be 1-32 characters of A-Z a-z 0-9 _ -/);
  }
});
