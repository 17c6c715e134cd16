import { PGlite } from '@electric-sql/pglite';
import tap from 'tap';
import { PGLITE_RACES, pgliteTarget, runSqlSuite } from './helpers/run.js';

// PGlite runs every statement in WebAssembly on this thread, one at a time, and a new database
// starts with initdb: on a loaded machine this file takes minutes, more than tap's default limit.
tap.setTimeout(600_000);

const db = await PGlite.create();

runSqlSuite('sqlStore on PGlite in memory', pgliteTarget(db), false, PGLITE_RACES);
