/**
 * The store on PGlite with a data directory: data written through the store is still there once
 * the instance is closed and the directory opened again (as at the next start of an app), and the
 * reopened instance passes the conformance suite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import tap from 'tap';
import { migrate, sqlStore } from '../src/index.js';
import { PGLITE_RACES, pgliteTarget, runSqlSuite } from './helpers/run.js';

// PGlite runs every statement in WebAssembly on this thread, one at a time, and a new database
// starts with initdb: on a loaded machine this file takes minutes, more than tap's default limit.
tap.setTimeout(600_000);

const dir = mkdtempSync(join(tmpdir(), 'twofold-store-sql-pglite-'));
tap.teardown(() => rmSync(dir, { recursive: true, force: true }));

const NOW = 1_800_000_000_123;

// One data directory (its initdb is the slow part): written, closed, reopened, then the suite.
const first = await PGlite.create(dir);
await migrate(first, { prefix: 'app_' });
const written = await sqlStore({ db: first, prefix: 'app_' });
await written.putNonce('u1', 'k', 'kept', NOW + 60_000, NOW);
await written.incrementCounter('u1', 'failures', 60_000, NOW);
await first.close();
const db = await PGlite.create(dir);

tap.test('data written through the store is there after close and reopen', async (t) => {
  t.strictSame((await migrate(db, { prefix: 'app_' })).applied, [], 'the schema is there');
  const reopened = await sqlStore({ db, prefix: 'app_' });
  t.equal(await reopened.getNonce('u1', 'k', NOW), 'kept');
  t.strictSame(await reopened.getCounter('u1', 'failures', NOW), { count: 1, expiresAt: NOW + 60_000 });
});

runSqlSuite('sqlStore on PGlite with a data directory', pgliteTarget(db), false, PGLITE_RACES);
