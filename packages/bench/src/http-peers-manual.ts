/**
 * The route a team would write by hand, in the head-to-head benchmark (issue 18): Fastify,
 * @fastify/jwt (HS256) for the challenge token and the session token, otpauth's `TOTP.validate`
 * (window 1), and one table on the same database as the kits (better-sqlite3, pg, or a Map in
 * memory): the user's password hash, base32 secret (stored as is, as such routes usually do) and
 * last accepted 30 s step. A code is accepted only for a step after the last one (a conditional
 * UPDATE), so a replayed code is refused. Its own API: `POST /signup`, `/2fa/enroll`, `/2fa/confirm`
 * (with the code of the previous step), `/login` (a challenge JWT of 5 minutes) and the measured
 * `POST /login/verify` (an access JWT of 15 minutes).
 */
import { createHash } from 'node:crypto';
import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance } from 'fastify';
import * as OTPAuth from 'otpauth';
import {
  confirmWithPreviousCode,
  expectStatus,
  inBatches,
  type PeerDatabase,
  type PeerKitServer,
  type PeerUser,
  totpCode,
} from './http-peers-common.js';

const PASSWORD = 'correct horse battery staple';
const hash = (password: string) => createHash('sha256').update(password).digest('hex');

interface UserRow {
  password: string;
  secret: string | null;
  enabled: boolean;
  lastStep: number;
}

/** The one table, on each database. */
interface Users {
  insert(id: string, password: string): Promise<void>;
  get(id: string): Promise<UserRow | undefined>;
  setSecret(id: string, secret: string): Promise<void>;
  /** Records `step` as used if it is after the last one; false when it is not (a replay). */
  useStep(id: string, step: number, enable: boolean): Promise<boolean>;
}

function usersOn(database: PeerDatabase): Users | Promise<Users> {
  if (database.kind === 'memory') {
    const rows = new Map<string, UserRow>();
    return {
      insert: async (id, password) =>
        void rows.set(id, { password, secret: null, enabled: false, lastStep: -1 }),
      get: async (id) => rows.get(id),
      setSecret: async (id, secret) => void Object.assign(rows.get(id)!, { secret }),
      async useStep(id, step, enable) {
        const row = rows.get(id);
        if (!row || row.lastStep >= step) return false;
        row.lastStep = step;
        if (enable) row.enabled = true;
        return true;
      },
    };
  }
  const ddl =
    'create table hw_users (id text primary key, password text not null, secret text, ' +
    'enabled boolean not null default false, last_step bigint not null default -1)';
  if (database.kind === 'sqlite') {
    const { db } = database;
    db.exec(ddl);
    const insert = db.prepare('insert into hw_users (id, password) values (?, ?)');
    const get = db.prepare<
      [string],
      { password: string; secret: string | null; enabled: number; last_step: number }
    >('select password, secret, enabled, last_step from hw_users where id = ?');
    const setSecret = db.prepare('update hw_users set secret = ? where id = ?');
    const useStep = db.prepare(
      'update hw_users set last_step = ?, enabled = (enabled or ?) where id = ? and last_step < ?',
    );
    return {
      insert: async (id, password) => void insert.run(id, password),
      async get(id) {
        const row = get.get(id);
        return (
          row && {
            password: row.password,
            secret: row.secret,
            enabled: row.enabled === 1,
            lastStep: row.last_step,
          }
        );
      },
      setSecret: async (id, secret) => void setSecret.run(secret, id),
      useStep: async (id, step, enable) => useStep.run(step, enable ? 1 : 0, id, step).changes === 1,
    };
  }
  const { pool } = database;
  return pool.query(ddl).then(() => ({
    insert: async (id, password) =>
      void (await pool.query('insert into hw_users (id, password) values ($1, $2)', [id, password])),
    async get(id) {
      const { rows } = await pool.query<{
        password: string;
        secret: string | null;
        enabled: boolean;
        last_step: string;
      }>('select password, secret, enabled, last_step from hw_users where id = $1', [id]);
      const row = rows[0];
      return (
        row && {
          password: row.password,
          secret: row.secret,
          enabled: row.enabled,
          lastStep: Number(row.last_step),
        }
      );
    },
    setSecret: async (id, secret) =>
      void (await pool.query('update hw_users set secret = $1 where id = $2', [secret, id])),
    async useStep(id, step, enable) {
      const result = await pool.query(
        'update hw_users set last_step = $1, enabled = (enabled or $2) where id = $3 and last_step < $1',
        [step, enable, id],
      );
      return result.rowCount === 1;
    },
  }));
}

/** The step a code is valid for (window 1), or null. */
function acceptedStep(secret: string, code: string): number | null {
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) });
  const now = Date.now();
  const delta = totp.validate({ token: code, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 30_000) + delta;
}

export async function setupManual(app: FastifyInstance, database: PeerDatabase): Promise<PeerKitServer> {
  const users = await usersOn(database);
  await app.register(fastifyJwt, { secret: 'bench-secret-bench-secret-bench-secret-0123456789' });
  const checkPassword = async (username: string, password: string) => {
    const row = await users.get(username);
    return row && row.password === hash(password) ? row : null;
  };

  app.post('/signup', async (request, reply) => {
    const { username, password } = request.body as { username: string; password: string };
    await users.insert(username, hash(password));
    return reply.code(201).send({ ok: true });
  });
  app.post('/2fa/enroll', async (request, reply) => {
    const { username, password } = request.body as { username: string; password: string };
    if (!(await checkPassword(username, password)))
      return reply.code(401).send({ error: 'invalid credentials' });
    const secret = new OTPAuth.Secret({ size: 20 }).base32;
    await users.setSecret(username, secret);
    const uri = new OTPAuth.TOTP({
      issuer: 'Bench',
      label: username,
      secret: OTPAuth.Secret.fromBase32(secret),
    }).toString();
    return { secret, uri };
  });
  app.post('/2fa/confirm', async (request, reply) => {
    const { username, password, code } = request.body as { username: string; password: string; code: string };
    const row = await checkPassword(username, password);
    const step = row?.secret ? acceptedStep(row.secret, code) : null;
    if (step === null || !(await users.useStep(username, step, true))) {
      return reply.code(401).send({ error: 'invalid code' });
    }
    return { enabled: true };
  });
  app.post('/login', async (request, reply) => {
    const { username, password } = request.body as { username: string; password: string };
    const row = await checkPassword(username, password);
    if (!row) return reply.code(401).send({ error: 'invalid credentials' });
    if (!row.enabled) return { accessToken: app.jwt.sign({ sub: username }, { expiresIn: '15m' }) };
    return { challengeToken: app.jwt.sign({ sub: username, purpose: '2fa' }, { expiresIn: '5m' }) };
  });
  app.post('/login/verify', async (request, reply) => {
    const { challengeToken, code } = request.body as { challengeToken: string; code: string };
    let claims: { sub: string; purpose?: string };
    try {
      claims = app.jwt.verify(challengeToken);
    } catch {
      return reply.code(401).send({ error: 'invalid challenge' });
    }
    if (claims.purpose !== '2fa') return reply.code(401).send({ error: 'invalid challenge' });
    const row = await users.get(claims.sub);
    const step = row?.enabled && row.secret ? acceptedStep(row.secret, code) : null;
    if (step === null || !(await users.useStep(claims.sub, step, false))) {
      return reply.code(401).send({ error: 'invalid code' });
    }
    return { accessToken: app.jwt.sign({ sub: claims.sub }, { expiresIn: '15m' }) };
  });

  let nextUser = 0;
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
  async function signIn(username: string): Promise<string> {
    const login = await post('/login', { username, password: PASSWORD });
    expectStatus('hand-written POST /login', login);
    const { challengeToken } = login.json() as { challengeToken?: string };
    if (!challengeToken) throw new Error(`hand-written login gave no challenge: ${login.body}`);
    return challengeToken;
  }
  async function prepareOne(): Promise<PeerUser & { username: string }> {
    const username = `user-${nextUser++}`;
    expectStatus('hand-written POST /signup', await post('/signup', { username, password: PASSWORD }), 201);
    const enroll = await post('/2fa/enroll', { username, password: PASSWORD });
    expectStatus('hand-written POST /2fa/enroll', enroll);
    const { secret } = enroll.json() as { secret: string };
    await confirmWithPreviousCode(secret, async (code) => {
      const confirm = await post('/2fa/confirm', { username, password: PASSWORD, code });
      if (confirm.statusCode === 401) return false;
      expectStatus('hand-written POST /2fa/confirm', confirm);
      return true;
    });
    return { username, secret, body: { challengeToken: await signIn(username) } };
  }

  return {
    prepare: (count) =>
      inBatches(count, database.kind === 'postgres' ? 16 : 1, prepareOne).then((all) =>
        all.map(({ secret, body }) => ({ secret, body })),
      ),
    async replay() {
      const user = await prepareOne();
      const code = totpCode(user.secret);
      const verify = (challengeToken: string) => post('/login/verify', { challengeToken, code });
      const first = await verify(user.body.challengeToken!);
      const second = await verify(await signIn(user.username));
      return {
        firstStatus: first.statusCode,
        secondStatus: second.statusCode,
        secondSession: second.statusCode === 200 && second.body.includes('accessToken'),
        secondBody: second.body.slice(0, 200),
      };
    },
    close: async () => {},
  };
}
