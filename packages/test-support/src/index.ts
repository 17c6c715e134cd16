export { isCI, type MissingOptions, missing, missingSkip, type Reporter } from './missing.js';
export { freePort, hasCommand, isListening, tempDir } from './net.js';
export { type CommandResult, runCommand } from './process.js';
export {
  BETTER_SQLITE3_MISSING,
  type Reached,
  type ReachOptions,
  reachBetterSqlite3,
  type SqliteConstructor,
} from './sqlite.js';
