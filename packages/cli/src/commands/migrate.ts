import { parseCommand } from '../args.js';
import { describeTarget, openDatabase, parseDatabaseUrl, prefixOption, URL_FORMS } from '../database.js';
import { storeFailure } from '../errors.js';
import type { Io } from '../io.js';

export const migrateHelp = `Usage: twofold migrate --url <database> [--prefix <prefix>]

Creates or upgrades the tables of @twofold/store-sql to the schema version this version needs.
Safe to run at every deploy and from several machines at once: a lock serialises concurrent runs
and only missing versions are applied. Migrations never go down.

Options:
  --url <database>    the database (or set TWOFOLD_DATABASE_URL):
${URL_FORMS.replaceAll(/^/gm, '    ')}
                      an SQLite file is created when it does not exist
  --prefix <prefix>   table name prefix, the same as the store's (default twofold_)
  -h, --help          show this help

Exit codes: 0 migrated or already current, 1 the database failed or is newer than this
version, 2 usage error.
`;

/** `twofold migrate`: runs the SQL store's migrations. */
export async function migrateCommand(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: { url: { type: 'string' }, prefix: { type: 'string' } },
    help: migrateHelp,
    maxPositionals: 0,
    what: '',
  });
  if (parsed === null) return 0;
  const { values } = parsed;
  const target = parseDatabaseUrl(values.url ?? io.env.TWOFOLD_DATABASE_URL);
  const prefix = prefixOption(values.prefix);
  const where = describeTarget(target);
  const { migrate } = await import('@twofold/store-sql');
  const database = await openDatabase(target, { create: true });
  try {
    const { from, to, applied } = await migrate(database.db, { prefix }).catch(storeFailure(where));
    io.stdout.write(
      applied.length === 0
        ? `${where}: schema already at version ${to} (prefix ${prefix}); nothing to do\n`
        : `${where}: migrated from version ${from} to ${to} (prefix ${prefix}); applied ${applied.join(', ')}\n`,
    );
    return 0;
  } finally {
    await database.close();
  }
}
