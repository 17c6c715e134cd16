/** A sample that opens its own ioredis client (`redis`) to REDIS_URL, the local Redis: closed after it. */
import type { Redis } from 'ioredis';

export async function after(scope: {
  redis?: Redis;
  twoFactor?: { status(userId: string): Promise<{ enabled: boolean }> };
}) {
  if (scope.twoFactor) {
    const status = await scope.twoFactor.status('readme-sample-nobody');
    if (status.enabled) throw new Error('a user that never enrolled has 2FA on');
  }
  await scope.redis?.quit();
}
