/** What the test process tells an app process (`server.ts`), and what the app process answers. */
import type { TwofoldMail } from '@twofold/core/http';

export type StoreSpec =
  | { kind: 'memory' }
  | { kind: 'redis'; prefix: string }
  /** A Redis Cluster the test started: its masters on 127.0.0.1 at `ports`. */
  | { kind: 'redis-cluster'; ports: number[]; prefix: string }
  | { kind: 'postgres'; prefix: string }
  /** MariaDB (or MySQL) at 127.0.0.1:3306, database `test`, user root, through a mysql2 pool. */
  | { kind: 'mysql'; prefix: string }
  | { kind: 'sqlite'; file: string; prefix: string };

export interface AppUser {
  username: string;
  userId: string;
  password: string;
  email: string;
}

export interface AppConfig {
  framework: 'fastify' | 'express';
  store: StoreSpec;
  /** The keyring string shared by every process of a run. */
  keyring: string;
  users: AppUser[];
  lockout?: { maxFailures?: number; durationMs?: number };
  challenge?: { ttlMs?: number; maxAttempts?: number };
  rateLimit: false | { max?: number; sensitiveMax?: number; timeWindowMs?: number };
  /** Believe X-Forwarded-For from 127.0.0.1. */
  trustProxy: boolean;
  linkUrl: string;
  /** The `trustedDevices` option (off when absent). */
  trustedDevices?: { maxAgeDays: number };
  /** `recovery.delayMs` (default 0: email recovery turns 2FA off at once). */
  recoveryDelayMs?: number;
  /** A mandatory-2FA policy covering these users, with a grace of `graceLogins` logins. */
  mandatory?: { userIds: string[]; graceLogins: number };
}

export type AppMessage = { type: 'listening'; port: number } | { type: 'mail'; mail: TwofoldMail };
