/** @twofold/store-sql's MySQL/MariaDB sample: DATABASE_URL is the local MariaDB; the pool answers. */
import { strictEqual } from './users.js';

process.env.DATABASE_URL = 'mysql://root@127.0.0.1:3306/test';

interface CallbackPool {
  query(sql: string, callback: (error: Error | null, rows: Array<{ one: number }>) => void): void;
  end(callback: (error?: Error | null) => void): void;
}

export async function after(scope: { db?: CallbackPool }) {
  const pool = scope.db!;
  const rows = await new Promise<Array<{ one: number }>>((resolve, reject) =>
    pool.query('select 1 as one', (error, result) => (error ? reject(error) : resolve(result))),
  );
  strictEqual(rows[0]!.one, 1);
  await new Promise((resolve) => pool.end(resolve));
}
