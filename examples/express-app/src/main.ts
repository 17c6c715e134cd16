/**
 * Starts the Express example:
 *
 *   pnpm --filter @twofold/example-express-app start
 *
 * Settings come from the environment (HOST, PORT, DATA_DIR, STORE, TWOFOLD_KEYS, ...; see README.md).
 */
import { createServer } from 'node:http';
import { consoleLog, describeStartupError, loadConfig } from '@twofold/example-web';
import { buildApp } from './app.js';

async function main(): Promise<void> {
  // Whatever this process creates is private (mode 600 files, 700 folders). The example's own
  // files are set so explicitly as well; the umask covers anything else (e.g. SQLite's temp files).
  process.umask(0o077);
  const config = loadConfig(process.env, process.cwd(), { issuer: 'twofold Express example' });
  const log = consoleLog();
  const { app, example } = await buildApp(config, log);
  const server = createServer(app);

  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    log('info', `${signal}: closing`);
    server.close();
    server.closeIdleConnections();
    example.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    await example.close();
    throw error;
  }
  const address = server.address();
  const where =
    typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
  log('info', `listening on ${where}`);
  log('info', `2FA state in ${example.storeDescription}; mails go to ${config.outboxDir}`);
  log('info', `open ${config.publicUrl}/`);
}

main().catch((error: unknown) => {
  console.error(`twofold Express example did not start: ${describeStartupError(error)}`);
  process.exitCode = 1;
});
