/**
 * The one log function the shared code writes through; each app adapts its own logger to it
 * (Fastify's pino, or the console for Express). Messages never hold a secret, code or token.
 */
export type LogLevel = 'info' | 'warn' | 'error';

export type Log = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** A log on stdout/stderr: one line per message, with the time and level. */
export function consoleLog(): Log {
  return (level, message, fields) => {
    const line = `${new Date().toISOString()} ${level.toUpperCase()} ${message}`;
    const rest = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    if (level === 'info') console.log(line + rest);
    else console.error(line + rest);
  };
}
