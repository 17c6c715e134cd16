/**
 * Reader of Google Authenticator "Transfer accounts" exports: one
 * `otpauth-migration://offline?data=<base64 MigrationPayload>` URI per line (each is one QR code
 * of the transfer), blank lines and `#` lines ignored.
 *
 * The payload is a protobuf (google-authenticator's published `MigrationPayload`), decoded here
 * by hand since only varints and length-delimited fields occur:
 *
 *     MigrationPayload { repeated OtpParameters otp_parameters = 1; int32 version = 2;
 *                        int32 batch_size = 3; int32 batch_index = 4; int32 batch_id = 5; }
 *     OtpParameters    { bytes secret = 1; string name = 2; string issuer = 3;
 *                        Algorithm algorithm = 4; DigitCount digits = 5; OtpType type = 6;
 *                        int64 counter = 7; }
 *
 * Algorithm 0 (unspecified) and 1 are SHA1, 2 SHA256, 3 SHA512, 4 MD5 (skipped); digits 0 and 1
 * are 6, 2 is 8; type 1 (HOTP) is skipped, 0 (unspecified) and 2 are TOTP, as Google
 * Authenticator itself reads them. The period is always 30: the format has none. The user id is
 * the account part of `name` (after `issuer:` when present); `name` of the row is the issuer.
 * A transfer of several QR codes shares a `batch_id`; every part (`batch_index` 0 to
 * `batch_size - 1`) is expected, and each missing part is reported as a skipped row
 * `batch <id> part <i> of <n>` after the entries. `ref` is `line N entry M`; `source` is
 * `uri:<hex SHA-256 of the secret>`, as for otpauth:// URIs, which carry the same accounts.
 */

import {
  assertText,
  checkParameters,
  clipName,
  recordLines,
  type SourceLine,
  secretSource,
  skip,
  userIdProblem,
} from './format-support.js';
import type { ImportEntry, ImportReader, ImportRow } from './types.js';

/** One field of a protobuf message: a varint (as a bigint) or length-delimited bytes. */
interface ProtoField {
  number: number;
  value: bigint | Uint8Array;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** Reads a base-128 varint at `offset`: the value and the offset after it. */
function readVarint(bytes: Uint8Array, offset: number): [bigint, number] {
  let value = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    const byte = bytes[offset++];
    if (byte === undefined) throw new RangeError('truncated varint');
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [value, offset];
  }
  throw new RangeError('varint too long');
}

/** The fields of a protobuf message in wire order; throws RangeError when it is malformed. */
function readFields(bytes: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const [key, afterKey] = readVarint(bytes, offset);
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    offset = afterKey;
    if (wireType === WIRE_VARINT) {
      const [value, next] = readVarint(bytes, offset);
      fields.push({ number, value });
      offset = next;
    } else if (wireType === WIRE_BYTES) {
      const [length, start] = readVarint(bytes, offset);
      offset = start + Number(length);
      if (offset > bytes.length) throw new RangeError('truncated field');
      fields.push({ number, value: bytes.subarray(start, offset) });
    } else if (wireType === WIRE_FIXED64 || wireType === WIRE_FIXED32) {
      offset += wireType === WIRE_FIXED64 ? 8 : 4;
    } else {
      throw new RangeError('unsupported wire type');
    }
  }
  if (offset !== bytes.length) throw new RangeError('truncated field');
  return fields;
}

/** An int32 or enum field (the last occurrence wins, as in protobuf); 0 when absent. */
function int32Field(fields: readonly ProtoField[], number: number): number {
  const field = fields.findLast((candidate) => candidate.number === number);
  return typeof field?.value === 'bigint' ? Number(BigInt.asIntN(32, field.value)) : 0;
}

/** A bytes field; empty when absent. */
function bytesField(fields: readonly ProtoField[], number: number): Uint8Array {
  const field = fields.findLast((candidate) => candidate.number === number);
  return field?.value instanceof Uint8Array ? field.value : new Uint8Array(0);
}

const UTF8 = new TextDecoder();

/** A decoded `MigrationPayload`. */
interface MigrationPayload {
  /** The raw `OtpParameters` messages. */
  accounts: Uint8Array[];
  batchSize: number;
  batchIndex: number;
  batchId: number;
}

function decodePayload(bytes: Uint8Array): MigrationPayload {
  const fields = readFields(bytes);
  const accounts: Uint8Array[] = [];
  for (const field of fields) {
    if (field.number !== 1) continue;
    if (!(field.value instanceof Uint8Array)) throw new RangeError('otp_parameters is not a message');
    accounts.push(field.value);
  }
  return {
    accounts,
    batchSize: int32Field(fields, 3),
    batchIndex: int32Field(fields, 4),
    batchId: int32Field(fields, 5),
  };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The payload bytes of an `otpauth-migration://offline?data=...` line, or a reason. */
function payloadBytes(line: string): Uint8Array | string {
  const match = /^otpauth-migration:\/\/offline\?(.*)$/i.exec(line);
  if (match === null) return 'not an otpauth-migration://offline URI';
  const data = match[1]!.split('&').find((part) => part.startsWith('data='));
  if (data === undefined) return 'the otpauth-migration URI has no data parameter';
  let base64: string;
  try {
    // Percent-decoding only: a '+' is base64, never a space, even when left unencoded.
    base64 = decodeURIComponent(data.slice('data='.length)).replaceAll(' ', '+');
  } catch {
    return 'the otpauth-migration data has a malformed percent-encoding';
  }
  if (!BASE64.test(base64)) return 'the otpauth-migration data is not base64';
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

const ALGORITHMS: Record<number, string> = { 0: 'SHA1', 1: 'SHA1', 2: 'SHA256', 3: 'SHA512', 4: 'MD5' };
const DIGITS: Record<number, number> = { 0: 6, 1: 6, 2: 8 };
const TYPE_HOTP = 1;
const TYPE_TOTP = 2;

/** `issuer:account` or `account`: the account part, leading spaces removed, and the issuer part. */
function splitName(name: string): { account: string; issuer?: string } {
  const colon = name.indexOf(':');
  if (colon < 0) return { account: name };
  return { issuer: name.slice(0, colon), account: name.slice(colon + 1).replace(/^ +/, '') };
}

/** The entry of one `OtpParameters` message. */
function readAccount(ref: string, message: Uint8Array): ImportEntry {
  let fields: ProtoField[];
  try {
    fields = readFields(message);
  } catch {
    return skip(ref, 'the account is not a valid OtpParameters message');
  }
  const label = splitName(UTF8.decode(bytesField(fields, 2)));
  const userId = label.account;
  const userProblem = userIdProblem(userId);
  if (userProblem !== undefined) return skip(ref, `${userProblem} (the account name is empty)`);
  const type = int32Field(fields, 6);
  if (type === TYPE_HOTP) return skip(ref, 'HOTP (counter-based) account: twofold imports TOTP only', userId);
  if (type !== TYPE_TOTP && type !== 0) return skip(ref, `unknown OTP type ${type}`, userId);
  const algorithmCode = int32Field(fields, 4);
  const digits = DIGITS[int32Field(fields, 5)];
  if (digits === undefined) return skip(ref, `unknown digit count ${int32Field(fields, 5)}`, userId);
  const parameters = checkParameters({
    secret: bytesField(fields, 1).slice(),
    algorithm: ALGORITHMS[algorithmCode] ?? `#${algorithmCode}`,
    digits,
    period: 30,
  });
  if (typeof parameters === 'string') return skip(ref, parameters, userId);
  const row: ImportRow = { ref, userId, source: secretSource('uri', parameters.secret), ...parameters };
  const name = clipName(UTF8.decode(bytesField(fields, 3)) || label.issuer);
  if (name !== undefined) row.name = name;
  return { row };
}

/** What is known of one batch (one transfer of several QR codes). */
interface Batch {
  size: number;
  /** batch_index -> line number. */
  parts: Map<number, number>;
}

/** Tracks the parts of every batch seen; says why a part cannot be used. */
class BatchTracker {
  readonly #batches = new Map<number, Batch>();

  /** Records the part; a reason when it is a duplicate or does not fit its batch. */
  add(payload: MigrationPayload, lineNumber: number): string | undefined {
    const { batchId, batchSize, batchIndex } = payload;
    if (batchSize <= 1) return undefined;
    if (batchIndex < 0 || batchIndex >= batchSize) {
      return `batch index ${batchIndex} is outside the batch of ${batchSize}`;
    }
    const batch = this.#batches.get(batchId) ?? { size: batchSize, parts: new Map<number, number>() };
    this.#batches.set(batchId, batch);
    if (batch.size !== batchSize)
      return `batch ${batchId} was ${batch.size} parts long, this part says ${batchSize}`;
    const seen = batch.parts.get(batchIndex);
    if (seen !== undefined) return `duplicate of the batch part on line ${seen}`;
    batch.parts.set(batchIndex, lineNumber);
    return undefined;
  }

  /** A skipped entry per part never seen, batch by batch in the order they were first seen. */
  *missing(): Generator<ImportEntry> {
    for (const [batchId, batch] of this.#batches) {
      for (let index = 0; index < batch.size; index++) {
        if (batch.parts.has(index)) continue;
        yield skip(
          `batch ${batchId} part ${index + 1} of ${batch.size}`,
          'this part of the transfer is missing from the input: its accounts were not imported',
        );
      }
    }
  }
}

/** The entries of one line: one per account, or one skip for the whole line. */
function readLine(line: SourceLine, batches: BatchTracker): ImportEntry[] {
  const ref = `line ${line.number}`;
  const bytes = payloadBytes(line.text);
  if (typeof bytes === 'string') return [skip(ref, bytes)];
  let payload: MigrationPayload;
  try {
    payload = decodePayload(bytes);
  } catch {
    return [skip(ref, 'the otpauth-migration data is not a valid MigrationPayload')];
  }
  const batchProblem = batches.add(payload, line.number);
  if (batchProblem !== undefined) return [skip(ref, batchProblem)];
  return payload.accounts.map((account, index) => readAccount(`${ref} entry ${index + 1}`, account));
}

async function* entries(text: string): AsyncGenerator<ImportEntry> {
  const batches = new BatchTracker();
  for (const line of recordLines(text)) yield* readLine(line, batches);
  yield* batches.missing();
}

/**
 * Reads Google Authenticator transfer URIs (`otpauth-migration://offline?data=...`), one per line.
 * @throws TypeError when `text` is not a string
 */
export function readGoogleMigration(text: string): ImportReader {
  assertText('readGoogleMigration', text);
  return entries(text);
}
