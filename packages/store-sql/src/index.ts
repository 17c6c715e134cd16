export { SchemaMismatchError } from './errors.js';
export type { MysqlPromisePool, SqlDatabase, SqlDialect } from './internal/connect.js';
export { type MigrationResult, migrate, SCHEMA_VERSION, storeTableNames } from './migrate.js';
export type { MigrateOptions, SqlStoreOptions } from './options.js';
export {
  type PGliteDatabase,
  PGliteDialect,
  type PGliteDialectConfig,
  type PGliteResults,
  type PGliteTransaction,
} from './pglite.js';
export {
  type ListSealedSecretsOptions,
  type SealedSecretCursor,
  type SealedSecretEntry,
  type SqlStore,
  type SweepResult,
  sqlStore,
} from './sql-store.js';
