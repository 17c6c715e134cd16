import {
  buildUri,
  decodeSecret,
  encodeSecret,
  generateSecret,
  type OtpauthUri,
  OtpError,
  parseUri,
} from '@twofold/otp';
import { algorithmOption, argumentOrStdin, integerOption, parseCommand } from '../args.js';
import { UsageError } from '../errors.js';
import { colorsAllowed, type Io } from '../io.js';
import { renderQrText } from '../qr.js';

const QR_OPTIONS_HELP = `  --qr                  also print the URI as a QR code, for scanning with a phone
  --invert              draw the QR code for a light-background terminal or a file (without
                        colours, light modules are drawn, which suits dark terminals; on a
                        terminal with colours the code is drawn black on white either way)`;

export const uriHelp = `Usage: twofold uri build --issuer <name> --account <name> [options]
       twofold uri inspect <otpauth-uri | -> [options]

otpauth:// URIs (the Google Key URI format) are what enrollment QR codes hold.

  build     prints a new URI; without --secret it generates a random secret
  inspect   prints what a URI holds, secret included

Run 'twofold uri build --help' or 'twofold uri inspect --help' for their options.

Exit codes: 0 printed, 2 usage error (including a malformed URI or secret).
`;

export const uriBuildHelp = `Usage: twofold uri build --issuer <name> --account <name> [options]

Prints an otpauth:// URI for an authenticator app. Without --secret a new random secret is
generated (as long as the hash output: 20 bytes for SHA1), and the URI is the only place it is
shown.

Options:
  --issuer <name>       the service name shown in the app (no colon)
  --account <name>      the account name, e.g. an email address (no colon)
  --secret <base32>     the secret, base32; "-" reads it from standard input
  --algorithm <name>    SHA1, SHA256 or SHA512 (default SHA1; most apps honour only SHA1)
  --digits <n>          code length, 6-10 (default 6)
  --period <s>          seconds per code, 1-3600 (default 30)
  --counter <n>         make an HOTP URI with this counter instead of a TOTP URI
${QR_OPTIONS_HELP}
  -h, --help            show this help

Exit codes: 0 printed, 2 usage error.
`;

export const uriInspectHelp = `Usage: twofold uri inspect <otpauth-uri | -> [options]

Prints the type, issuer, account, secret and parameters an otpauth:// URI holds, after checking
it strictly. Give "-" to read the URI from standard input.

Options:
  --json                print the fields as JSON
${QR_OPTIONS_HELP}
  -h, --help            show this help

Exit codes: 0 printed, 2 usage error (including a malformed URI).
`;

/** The shortest secret the uri commands accept, as `twofold code` does. */
const MIN_SECRET_BYTES = 10;

/** `twofold uri build|inspect`. */
export async function uriCommand(io: Io, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'build') return uriBuild(io, rest);
  if (sub === 'inspect') return uriInspect(io, rest);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    if (sub === undefined) {
      io.stderr.write(uriHelp);
      return 2;
    }
    io.stdout.write(uriHelp);
    return 0;
  }
  // Not echoed: it may be a URI or secret typed in the wrong place.
  throw new UsageError('unknown subcommand (expected build or inspect)');
}

function printQr(io: Io, uri: string, invert: boolean): void {
  io.stdout.write(`\n${renderQrText(uri, { color: colorsAllowed(io, io.stdout), invert })}`);
}

async function uriBuild(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: {
      issuer: { type: 'string' },
      account: { type: 'string' },
      secret: { type: 'string' },
      algorithm: { type: 'string' },
      digits: { type: 'string' },
      period: { type: 'string' },
      counter: { type: 'string' },
      qr: { type: 'boolean' },
      invert: { type: 'boolean' },
    },
    help: uriBuildHelp,
    maxPositionals: 0,
    what: '',
  });
  if (parsed === null) return 0;
  const { values } = parsed;
  const issuer = labelPart('issuer', values.issuer);
  const account = labelPart('account', values.account);
  const algorithm = algorithmOption(values.algorithm) ?? 'SHA1';
  const digits = integerOption('digits', values.digits, 6, 10);
  const period = integerOption('period', values.period, 1, 3600);
  const counter = integerOption('counter', values.counter, 0, Number.MAX_SAFE_INTEGER);
  if (counter !== undefined && period !== undefined) {
    throw new UsageError('--period applies to TOTP; --counter makes an HOTP URI');
  }
  const secret =
    values.secret === undefined
      ? generateSecret({ algorithm })
      : readSecret(await argumentOrStdin(io, values.secret, '--secret'));
  const uri = buildUri({
    type: counter === undefined ? 'totp' : 'hotp',
    secret,
    issuer,
    account,
    algorithm,
    digits,
    ...(counter === undefined ? { period } : { counter }),
  });
  secret.fill(0);
  io.stdout.write(`${uri}\n`);
  if (values.qr) printQr(io, uri, values.invert ?? false);
  return 0;
}

async function uriInspect(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: {
      json: { type: 'boolean' },
      qr: { type: 'boolean' },
      invert: { type: 'boolean' },
    },
    help: uriInspectHelp,
    maxPositionals: 1,
    what: 'an otpauth URI',
  });
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError('missing the otpauth URI (or - to read stdin)');
  const text = await argumentOrStdin(io, positionals[0]!, 'the otpauth URI');
  let uri: OtpauthUri;
  try {
    uri = parseUri(text, { minSecretBytes: MIN_SECRET_BYTES });
  } catch (error) {
    if (error instanceof OtpError) throw new UsageError(`not a valid otpauth URI: ${error.message}`);
    throw error;
  }
  const fields = {
    type: uri.type,
    issuer: uri.issuer ?? null,
    account: uri.account,
    secret: encodeSecret(uri.secret),
    secretBits: uri.secret.length * 8,
    algorithm: uri.algorithm,
    digits: uri.digits,
    ...(uri.type === 'totp' ? { period: uri.period } : { counter: uri.counter }),
  };
  if (values.json) {
    io.stdout.write(`${JSON.stringify(fields)}\n`);
  } else {
    const rows: [string, string][] = [
      ['type', fields.type],
      ['issuer', fields.issuer ?? '(none)'],
      ['account', fields.account],
      ['secret', `${fields.secret} (${fields.secretBits} bits)`],
      ['algorithm', fields.algorithm],
      ['digits', String(fields.digits)],
      uri.type === 'totp' ? ['period', `${uri.period} s`] : ['counter', String(uri.counter)],
    ];
    for (const [name, value] of rows) io.stdout.write(`${name.padEnd(10)} ${value}\n`);
    if (uri.secret.length < 16) {
      io.stderr.write(`note: the secret is ${fields.secretBits} bits; 128 or more is recommended\n`);
    }
  }
  // A URI typed with raw non-ASCII characters is drawn in its canonical, percent-encoded form.
  if (values.qr) printQr(io, /^[\x20-\x7e]+$/.test(text) ? text : canonical(uri), values.invert ?? false);
  uri.secret.fill(0);
  return 0;
}

/** The URI rebuilt from its fields (percent-encoded, defaults left out). */
function canonical(uri: OtpauthUri): string {
  const { type, secret, issuer, account, algorithm, digits } = uri;
  return type === 'totp'
    ? buildUri({ type, secret, issuer, account, algorithm, digits, period: uri.period })
    : buildUri({ type, secret, issuer, account, algorithm, digits, counter: uri.counter });
}

/** --issuer / --account: required, non-empty, no colon (the label separator). */
function labelPart(name: string, value: string | undefined): string {
  if (value === undefined || value.trim() === '') throw new UsageError(`--${name} is required`);
  if (value.includes(':')) throw new UsageError(`--${name} must not contain a colon`);
  if (value.length > 256) throw new UsageError(`--${name} must be at most 256 characters`);
  return value;
}

/** A base32 secret for `uri build`; the error never repeats it. */
function readSecret(text: string): Uint8Array {
  try {
    return decodeSecret(text, { minBytes: MIN_SECRET_BYTES });
  } catch (error) {
    if (!(error instanceof OtpError)) throw error;
    throw new UsageError(`--secret is not valid base32 of at least ${MIN_SECRET_BYTES} bytes`);
  }
}
