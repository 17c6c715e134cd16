/**
 * @twofold/core's quick example: `user`, and `body`, the requests' bodies. `body.code` is what the
 * user's authenticator app shows: the current code for confirm, then the next step's for the
 * login (the confirming step is spent), computed from the enrollment the sample made.
 */
import { Totp } from '@twofold/otp';
import { ada, ok, strictEqual } from './users.js';

interface Scope {
  enrollment: { secret: string };
  challengeToken: string;
}
const scope = () => (globalThis as unknown as { __sampleScope: () => Scope }).__sampleScope();
let reads = 0;

export const user = { id: ada.id, email: ada.email };
export const body = {
  get code() {
    const totp = new Totp({ secret: scope().enrollment.secret });
    return totp.generate(Date.now() + 30_000 * reads++).token;
  },
  get challengeToken() {
    return scope().challengeToken;
  },
};

/** Both requests succeeded: 2FA is on with ten recovery codes, and the login's second step passed. */
export async function after(s: {
  recoveryCodes?: string[];
  expiresIn?: number;
  userId?: string;
  method?: string;
}) {
  strictEqual(s.recoveryCodes?.length, 10);
  ok(s.expiresIn! > 0);
  strictEqual(s.userId, ada.id);
  strictEqual(s.method, 'totp');
}
