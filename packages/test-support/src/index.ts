export { isCI, type MissingOptions, missing, missingSkip, type Reporter } from './missing.js';
export { freePort, hasCommand, isListening, tempDir } from './net.js';
