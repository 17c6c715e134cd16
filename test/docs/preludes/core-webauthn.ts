/** @twofold/core's WebAuthn sample: `user`. Afterwards the options name the relying party. */
import { ada, strictEqual } from './users.js';

export const user = { id: ada.id, email: ada.email };

export async function after(scope: { creationOptions?: { rp: { id: string }; user: { name: string } } }) {
  strictEqual(scope.creationOptions?.rp.id, 'acme.example');
  strictEqual(scope.creationOptions?.user.name, ada.email, 'the account name the browser shows');
}
