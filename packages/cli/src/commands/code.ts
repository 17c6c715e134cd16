import { decodeSecret, Hotp, OtpError, parseUri, Totp } from '@twofold/otp';
import { algorithmOption, argumentOrStdin, integerOption, parseCommand, timeOption } from '../args.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';

export const codeHelp = `Usage: twofold code <secret | otpauth-uri | -> [options]

Prints the current one-time code of a base32 secret or of an otpauth:// URI, as an authenticator
app would show it. The code goes to stdout alone (for scripts); how long it stays valid goes to
stderr. Give "-" to read the secret or URI from standard input, which keeps it out of the shell
history and the process list.

Options for a bare secret (an otpauth URI carries its own):
  --algorithm <name>  SHA1, SHA256 or SHA512 (default SHA1)
  --digits <n>        code length, 6-10 (default 6)
  --period <s>        seconds per code, 1-3600 (default 30)
  --hex               the secret is hex, not base32
  --counter <n>       an HOTP code for this counter instead of a TOTP code
                      (with an hotp URI: overrides the URI's counter)

Options:
  --time <when>       the code at another time: Unix seconds or ISO 8601 (2026-01-01T12:00:00Z)
  --json              print {"code", "counter", ...} as JSON on stdout
  -h, --help          show this help

Secrets as short as 10 bytes (16 base32 characters) are accepted, as old enrollments used them.

Exit codes: 0 printed, 2 usage error (including a malformed secret or URI).
`;

/** The shortest secret `code` accepts: the 80-bit secrets of older authenticator setups. */
const MIN_SECRET_BYTES = 10;

/** `twofold code`: prints the current code of a secret or otpauth URI. */
export async function codeCommand(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: {
      algorithm: { type: 'string' },
      digits: { type: 'string' },
      period: { type: 'string' },
      hex: { type: 'boolean' },
      counter: { type: 'string' },
      time: { type: 'string' },
      json: { type: 'boolean' },
    },
    help: codeHelp,
    maxPositionals: 1,
    what: 'a secret or an otpauth URI',
  });
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (positionals.length === 0)
    throw new UsageError('missing the secret or otpauth URI (or - to read stdin)');
  const input = await argumentOrStdin(io, positionals[0]!, 'the secret or otpauth URI');
  const counter = integerOption('counter', values.counter, 0, Number.MAX_SAFE_INTEGER);
  const time = timeOption(values.time, Date.now());

  let generator: Totp | Hotp;
  let hotpCounter: number | undefined;
  if (/^otpauth:/i.test(input)) {
    for (const name of ['algorithm', 'digits', 'period', 'hex'] as const) {
      if (values[name] !== undefined) {
        throw new UsageError(`--${name} applies to a bare secret only; the otpauth URI sets it`);
      }
    }
    const uri = readUri(input);
    if (uri.type === 'totp') {
      if (counter !== undefined) throw new UsageError('--counter applies to HOTP; this is a totp URI');
      const { secret, algorithm, digits, period } = uri;
      generator = new Totp({ secret, algorithm, digits, period, minSecretBytes: MIN_SECRET_BYTES });
    } else {
      const { secret, algorithm, digits } = uri;
      generator = new Hotp({ secret, algorithm, digits, minSecretBytes: MIN_SECRET_BYTES });
      hotpCounter = counter ?? uri.counter;
    }
  } else {
    const secret = readSecret(input, values.hex ?? false);
    const algorithm = algorithmOption(values.algorithm) ?? 'SHA1';
    const digits = integerOption('digits', values.digits, 6, 10) ?? 6;
    if (counter !== undefined) {
      if (values.period !== undefined)
        throw new UsageError('--period applies to TOTP; --counter asks for HOTP');
      generator = new Hotp({ secret, algorithm, digits, minSecretBytes: MIN_SECRET_BYTES });
      hotpCounter = counter;
    } else {
      const period = integerOption('period', values.period, 1, 3600) ?? 30;
      generator = new Totp({ secret, algorithm, digits, period, minSecretBytes: MIN_SECRET_BYTES });
    }
    secret.fill(0);
  }

  if (generator instanceof Hotp) {
    const code = generator.generate(hotpCounter!);
    io.stdout.write(values.json ? `${JSON.stringify({ code, counter: hotpCounter })}\n` : `${code}\n`);
    return 0;
  }
  const { token, counter: step, expiresAt, remainingMs } = generator.generate(time);
  const remainingSeconds = Math.ceil(remainingMs / 1000);
  if (values.json) {
    const expires = new Date(expiresAt).toISOString();
    io.stdout.write(
      `${JSON.stringify({ code: token, counter: step, expiresAt: expires, remainingSeconds })}\n`,
    );
  } else {
    io.stdout.write(`${token}\n`);
    io.stderr.write(`valid for ${remainingSeconds} more second${remainingSeconds === 1 ? '' : 's'}\n`);
  }
  return 0;
}

/** Parses an otpauth URI; its errors say what is wrong without repeating the URI. */
function readUri(input: string) {
  try {
    return parseUri(input, { minSecretBytes: MIN_SECRET_BYTES });
  } catch (error) {
    if (error instanceof OtpError) throw new UsageError(`not a valid otpauth URI: ${error.message}`);
    throw error;
  }
}

/** Decodes a bare secret; the error never repeats it. */
function readSecret(input: string, hex: boolean): Uint8Array {
  try {
    return decodeSecret(input, { encoding: hex ? 'hex' : 'base32', minBytes: MIN_SECRET_BYTES });
  } catch (error) {
    if (!(error instanceof OtpError)) throw error;
    throw new UsageError(
      `the secret is not valid ${hex ? 'hex' : 'base32'} of at least ${MIN_SECRET_BYTES} bytes` +
        (hex ? '' : ' (use --hex for a hex secret)'),
    );
  }
}
