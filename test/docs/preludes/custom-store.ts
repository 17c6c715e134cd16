/** examples/custom-store's sample: `myKeyValue`, the example's in-memory backend. */
import { memoryKeyValue } from '../../../examples/custom-store/src/memory-key-value.js';
import { strictEqual } from './users.js';

export const myKeyValue = memoryKeyValue();

/** The engine over the custom store enrolls and reports a pending enrollment. */
export async function after(scope: {
  twoFactor?: { enroll(id: string): Promise<unknown>; status(id: string): Promise<{ pending: boolean }> };
}) {
  await scope.twoFactor!.enroll('u-1');
  strictEqual((await scope.twoFactor!.status('u-1')).pending, true);
}
