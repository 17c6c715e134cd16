/**
 * Starts the Fastify example:
 *
 *   pnpm --filter @twofold/example-fastify-app start
 *
 * Settings come from the environment (HOST, PORT, DATA_DIR, STORE, TWOFOLD_KEYS, ...; see README.md).
 */
import { describeStartupError, loadConfig } from '@twofold/example-web';
import { buildApp } from './app.js';

async function main(): Promise<void> {
  // Whatever this process creates is private (mode 600 files, 700 folders). The example's own
  // files are set so explicitly as well; the umask covers anything else (e.g. SQLite's temp files).
  process.umask(0o077);
  const config = loadConfig(process.env, process.cwd(), { issuer: 'twofold Fastify example' });
  const { app, example } = await buildApp(config);

  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info(`${signal}: closing`);
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    throw error;
  }
  app.log.info(`2FA state in ${example.storeDescription}; mails go to ${config.outboxDir}`);
  app.log.info(`open ${config.publicUrl}/ (API docs at ${config.publicUrl}/docs)`);
}

main().catch((error: unknown) => {
  console.error(`twofold Fastify example did not start: ${describeStartupError(error)}`);
  process.exitCode = 1;
});
