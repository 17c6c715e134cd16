/**
 * Runs the import fixture generators of this folder: Python scripts that produce each export
 * format with the real tools (pyotp, passlib, cryptography's Fernet, protobuf), through Debian's
 * `/usr/bin/python3` (a pyenv or venv `python3` lacks those packages). See format_fixture.py for what a
 * generator prints.
 */

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's interpreter, where the python3-* packages are installed. */
export const PYTHON = '/usr/bin/python3';

/** The generators, by script name (without `.py`). */
export type Generator = 'otpauth_list' | 'google_migration' | 'passlib_totp' | 'django_totp';

/** An ImportRow as the real tool made it, with the codes pyotp computes for it. */
export interface ExpectedRow {
  ref: string;
  userId: string;
  source: string;
  secretHex: string;
  algorithm: string;
  digits: number;
  period: number;
  name?: string;
  lastCounter?: number;
  recoveryCodes?: string[];
  /** `time` in Unix seconds; `token` what pyotp gave (`totp.now()` for the first, `totp.at()` after). */
  codes: { time: number; token: string }[];
}

/** A row that must be skipped; `why` names the expected reason (the test maps it to a pattern). */
export interface ExpectedSkip {
  ref: string;
  userId?: string;
  why: string;
}

export type ExpectedEntry = { row: ExpectedRow } | { skip: ExpectedSkip };

/** A generated export and what reading it must give. */
export interface Fixture {
  /** The export file's content. */
  text: string;
  /** Generator-specific reader options (Fernet key, wallet secrets). */
  options: Record<string, unknown>;
  /** Every entry, in input order. */
  expected: ExpectedEntry[];
  /** Strings no skip reason may contain (secrets, keys, backup codes). */
  sensitive: string[];
}

export type FixtureResult = { fixture: Fixture } | { missing: string };

const MISSING_STATUS = 3;

/** Whether `error` is an execFile failure with the given exit status or error code. */
function failedWith(error: unknown, status: number | string): error is { stdout: string } {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === status;
}

/**
 * Runs one generator into `dir`: the fixture, or `missing` naming the Debian package to install
 * when Python or one of its modules is not there.
 */
export async function generateFixture(generator: Generator, dir: string): Promise<FixtureResult> {
  const script = fileURLToPath(new URL(`${generator}.py`, import.meta.url));
  let stdout: string;
  try {
    ({ stdout } = await run(PYTHON, [script, dir], { encoding: 'utf8' }));
  } catch (error) {
    if (failedWith(error, 'ENOENT')) return { missing: `${PYTHON} not found (Debian package python3)` };
    if (failedWith(error, MISSING_STATUS)) return { missing: JSON.parse(error.stdout).missing };
    throw error;
  }
  const printed = JSON.parse(stdout) as Omit<Fixture, 'text'> & { file: string };
  const { file, ...rest } = printed;
  return { fixture: { text: await readFile(file, 'utf8'), ...rest } };
}
