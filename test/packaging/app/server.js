// `node server.js`: the host app (app.js) on memoryStore, as a host would start it. Prints
// `listening <origin>` once it accepts connections; one user, ada, without 2FA yet.
import { generateKey, memoryStore } from '@twofold/core';
import { startApp } from './app.js';

const app = await startApp({
  twofold: {
    store: memoryStore(),
    keyring: generateKey(),
    issuer: 'Packed App',
    authenticate: async ({ username, password }) =>
      username === 'ada' && password === 'correct horse battery staple' ? 'user-ada' : null,
  },
});
process.stdout.write(`listening ${app.origin}\n`);
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
