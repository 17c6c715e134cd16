// `node contract.js <name>`: the packed @twofold/http-test-suite against app.js, as tap output.
import { runHttpContract } from '@twofold/http-test-suite';
import { startApp } from './app.js';

runHttpContract(`packed ${process.argv[2] ?? 'app'}`, startApp);
