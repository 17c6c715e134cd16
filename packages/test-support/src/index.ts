export { isCI, type MissingOptions, missing, missingSkip, type Reporter } from './missing.js';
