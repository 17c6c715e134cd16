/**
 * A software WebAuthn authenticator for tests: plays the browser (`navigator.credentials.create()` /
 * `.get()` followed by `toJSON()`) and the authenticator behind it in pure Node, so a test can
 * register a security key or a passkey and sign assertions without a browser.
 *
 * One authenticator holds one credential (a key pair and a credential id made when it is created).
 * It answers the options JSON a relying party sends (`PublicKeyCredentialCreationOptionsJSON`,
 * `PublicKeyCredentialRequestOptionsJSON`) with the response JSON a browser would post back
 * (`RegistrationResponseJSON` with attestation format "none", `AuthenticationResponseJSON`), built as
 * the W3C WebAuthn Level 3 spec lays them out: clientDataJSON, authenticator data, a COSE public key
 * in CBOR, and an ES256 (P-256) or EdDSA (Ed25519) signature over authenticatorData ||
 * SHA-256(clientDataJSON).
 *
 * It refuses what a real authenticator refuses about its credential (listed in `excludeCredentials`,
 * not listed in a non-empty `allowCredentials`, an algorithm the relying party did not offer), with the
 * DOMException names a browser uses. It does not police the caller otherwise: the `origin` and `rpId`
 * of the context are used as given (no check that the origin's host fits the RP ID) and the flags come
 * from the options it was made with, whatever `userVerification` asks. That is on purpose: a test can
 * forge a response for the wrong origin, the wrong RP ID or without user verification, and check the
 * server refuses it.
 *
 * Only node:crypto is used.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

/** The credential's signature algorithm: ES256 is ECDSA on P-256 with SHA-256, EdDSA is Ed25519. */
export type SoftwareAuthenticatorAlgorithm = 'ES256' | 'EdDSA';

export interface SoftwareAuthenticatorOptions {
  /** The key type: `'ES256'` (P-256, COSE -7; default) or `'EdDSA'` (Ed25519, COSE -8). */
  algorithm?: SoftwareAuthenticatorAlgorithm;
  /**
   * `'increment'` (default): a key that counts its signatures, each assertion carries the counter plus
   * one. `'zero'`: the signature counter is always 0, as with most passkeys.
   */
  counter?: 'increment' | 'zero';
  /** The BE flag: the credential may be synced (a passkey). Default false. */
  backupEligible?: boolean;
  /** The BS flag: the credential is backed up. Default: `backupEligible`. */
  backupState?: boolean;
  /** The UV flag: the user was verified (PIN, biometrics). Default true. UP is always set. */
  userVerified?: boolean;
  /** The AAGUID (the authenticator model) as a UUID string. Default all zeros. */
  aaguid?: string;
}

/** Where the ceremony runs: the page's origin and the RP ID the browser hands the authenticator. */
export interface CeremonyContext {
  /** The origin of the page, e.g. `https://example.com`: written into clientDataJSON as given. */
  origin: string;
  /** The RP ID hashed into the authenticator data. Default: the options' RP ID, else the origin's host. */
  rpId?: string;
}

/** Transports, as in the spec (and `AuthenticatorTransportFuture` of @simplewebauthn). */
export type AuthenticatorTransport = 'ble' | 'cable' | 'hybrid' | 'internal' | 'nfc' | 'smart-card' | 'usb';

/** A credential descriptor in the options JSON. */
export interface CredentialDescriptorJSON {
  id: string;
  type: string;
  transports?: readonly string[];
}

/** `PublicKeyCredentialCreationOptionsJSON`: what a relying party sends to register a credential. */
export interface CreationOptionsJSON {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  pubKeyCredParams: readonly { alg: number; type: string }[];
  timeout?: number;
  excludeCredentials?: readonly CredentialDescriptorJSON[];
  authenticatorSelection?: {
    authenticatorAttachment?: string;
    requireResidentKey?: boolean;
    residentKey?: string;
    userVerification?: string;
  };
  hints?: readonly string[];
  attestation?: string;
  attestationFormats?: readonly string[];
  extensions?: { credProps?: boolean };
}

/** `PublicKeyCredentialRequestOptionsJSON`: what a relying party sends to ask for an assertion. */
export interface RequestOptionsJSON {
  challenge: string;
  rpId?: string;
  timeout?: number;
  allowCredentials?: readonly CredentialDescriptorJSON[];
  userVerification?: string;
  hints?: readonly string[];
  extensions?: object;
}

/** What `navigator.credentials.create()` gives, as `toJSON()` writes it. */
export interface RegistrationResponseJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  response: {
    clientDataJSON: string;
    attestationObject: string;
    authenticatorData: string;
    transports: AuthenticatorTransport[];
    /** The COSE algorithm identifier: -7 (ES256) or -8 (EdDSA). */
    publicKeyAlgorithm: number;
    /** The public key as a DER SubjectPublicKeyInfo, base64url. */
    publicKey: string;
  };
  clientExtensionResults: { credProps?: { rk?: boolean } };
  authenticatorAttachment: 'platform' | 'cross-platform';
}

/** What `navigator.credentials.get()` gives, as `toJSON()` writes it. */
export interface AuthenticationResponseJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  response: {
    clientDataJSON: string;
    authenticatorData: string;
    signature: string;
    /** The user id given at registration (base64url); absent if this authenticator never registered. */
    userHandle?: string;
  };
  clientExtensionResults: Record<string, never>;
  authenticatorAttachment: 'platform' | 'cross-platform';
}

export interface SoftwareAuthenticator {
  /**
   * Answers creation options like `navigator.credentials.create()` + `toJSON()`: a registration
   * response with attestation format "none" and the signature counter as it stands (not incremented).
   * Throws an `InvalidStateError` when `excludeCredentials` lists this credential and a
   * `NotSupportedError` when `pubKeyCredParams` lacks its algorithm. Registering again registers the
   * same credential again (with the new user id).
   */
  register(options: CreationOptionsJSON, context: CeremonyContext): RegistrationResponseJSON;
  /**
   * Answers request options like `navigator.credentials.get()` + `toJSON()`: an assertion signed over
   * authenticatorData || SHA-256(clientDataJSON), the counter incremented first (mode 'increment').
   * Throws a `NotAllowedError` when `allowCredentials` is non-empty and does not list this credential.
   */
  assert(options: RequestOptionsJSON, context: CeremonyContext): AuthenticationResponseJSON;
  /** A second authenticator with the same private key, credential id, user id and counter (a cloned key). */
  clone(): SoftwareAuthenticator;
  /** The credential id, base64url (32 random bytes). */
  readonly credentialId: string;
  /** The credential public key as a COSE_Key in CBOR (what @simplewebauthn stores as `publicKey`). */
  readonly publicKey: Uint8Array<ArrayBuffer>;
  /** The signature counter the last response carried; settable (always 0 in mode 'zero'). */
  counter: number;
}

const COSE_ALGORITHM: Record<SoftwareAuthenticatorAlgorithm, number> = { ES256: -7, EdDSA: -8 };

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const MAX_COUNTER = 0xffff_ffff;

/** The key material of one credential, shared by an authenticator and its clones. */
interface Credential {
  algorithm: SoftwareAuthenticatorAlgorithm;
  privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  cose: Buffer;
  id: Buffer;
}

/** The state of one authenticator: a clone gets a copy. */
interface State {
  counter: number;
  userHandle: string | undefined;
}

type Settings = Required<Omit<SoftwareAuthenticatorOptions, 'aaguid'>> & { aaguid: Buffer };

/** A software authenticator holding a fresh credential. */
export function softwareAuthenticator(options: SoftwareAuthenticatorOptions = {}): SoftwareAuthenticator {
  const algorithm = options.algorithm ?? 'ES256';
  if (algorithm !== 'ES256' && algorithm !== 'EdDSA') {
    throw new TypeError(`softwareAuthenticator: unknown algorithm ${JSON.stringify(algorithm)}`);
  }
  const counterMode = options.counter ?? 'increment';
  if (counterMode !== 'increment' && counterMode !== 'zero') {
    throw new TypeError(`softwareAuthenticator: counter must be 'increment' or 'zero'`);
  }
  const backupEligible = options.backupEligible ?? false;
  const settings: Settings = {
    algorithm,
    counter: counterMode,
    backupEligible,
    backupState: options.backupState ?? backupEligible,
    userVerified: options.userVerified ?? true,
    aaguid: parseAaguid(options.aaguid ?? '00000000-0000-0000-0000-000000000000'),
  };
  return makeAuthenticator(settings, newCredential(algorithm), { counter: 0, userHandle: undefined });
}

function newCredential(algorithm: SoftwareAuthenticatorAlgorithm): Credential {
  const { privateKey, publicKey } =
    algorithm === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const cose =
    algorithm === 'ES256'
      ? // kty: EC2, alg: ES256, crv: P-256, x, y
        cbor(
          new Map<number, CborValue>([
            [1, 2],
            [3, -7],
            [-1, 1],
            [-2, x],
            [-3, Buffer.from(jwk.y ?? '', 'base64url')],
          ]),
        )
      : // kty: OKP, alg: EdDSA, crv: Ed25519, x
        cbor(
          new Map<number, CborValue>([
            [1, 1],
            [3, -8],
            [-1, 6],
            [-2, x],
          ]),
        );
  return {
    algorithm,
    privateKey,
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    cose,
    id: randomBytes(32),
  };
}

function makeAuthenticator(settings: Settings, credential: Credential, state: State): SoftwareAuthenticator {
  const credentialId = credential.id.toString('base64url');
  const passkey = settings.backupEligible;
  const attachment = passkey ? 'platform' : 'cross-platform';

  function flags(extra: number): number {
    return (
      FLAG_UP |
      (settings.userVerified ? FLAG_UV : 0) |
      (settings.backupEligible ? FLAG_BE : 0) |
      (settings.backupState ? FLAG_BS : 0) |
      extra
    );
  }

  function authenticatorData(rpId: string, flagBits: number, counter: number, attested?: Buffer): Buffer {
    const head = Buffer.alloc(37);
    createHash('sha256').update(rpId, 'utf8').digest().copy(head, 0);
    head.writeUInt8(flagBits, 32);
    head.writeUInt32BE(counter, 33);
    return attested ? Buffer.concat([head, attested]) : head;
  }

  function lists(descriptors: readonly CredentialDescriptorJSON[] | undefined): boolean {
    return (descriptors ?? []).some(
      (descriptor) =>
        descriptor.type === 'public-key' &&
        typeof descriptor.id === 'string' &&
        Buffer.from(descriptor.id, 'base64url').equals(credential.id),
    );
  }

  return {
    credentialId,
    get publicKey() {
      return new Uint8Array(credential.cose);
    },
    get counter() {
      return state.counter;
    },
    set counter(value: number) {
      if (!Number.isInteger(value) || value < 0 || value > MAX_COUNTER) {
        throw new RangeError('counter must be an integer from 0 to 2^32 - 1');
      }
      if (settings.counter === 'zero' && value !== 0) {
        throw new RangeError("an authenticator made with counter: 'zero' always counts 0");
      }
      state.counter = value;
    },

    register(options, context) {
      if (lists(options.excludeCredentials)) {
        throw new DOMException(
          'The authenticator already holds an excluded credential.',
          'InvalidStateError',
        );
      }
      const alg = COSE_ALGORITHM[credential.algorithm];
      const params = options.pubKeyCredParams ?? [];
      // An empty list means the client's defaults: ES256 and RS256.
      const offered =
        params.length === 0 ? [-7, -257] : params.filter((p) => p.type === 'public-key').map((p) => p.alg);
      if (!offered.includes(alg)) {
        throw new DOMException(
          `The relying party does not offer ${credential.algorithm} (COSE ${alg}).`,
          'NotSupportedError',
        );
      }
      const clientData = clientDataJSON('webauthn.create', options.challenge, context.origin);
      const rpId = context.rpId ?? options.rp.id ?? new URL(context.origin).hostname;
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(credential.id.length);
      const attested = Buffer.concat([settings.aaguid, idLength, credential.id, credential.cose]);
      const authData = authenticatorData(rpId, flags(FLAG_AT), state.counter, attested);
      const attestationObject = cbor(
        new Map<string, CborValue>([
          ['fmt', 'none'],
          ['attStmt', new Map()],
          ['authData', authData],
        ]),
      );
      state.userHandle = options.user.id;
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: {
          clientDataJSON: clientData.toString('base64url'),
          attestationObject: attestationObject.toString('base64url'),
          authenticatorData: authData.toString('base64url'),
          transports: passkey ? ['internal', 'hybrid'] : ['usb'],
          publicKeyAlgorithm: alg,
          publicKey: credential.spki.toString('base64url'),
        },
        // The credential keeps its user id (assertions return it): a discoverable credential.
        clientExtensionResults: options.extensions?.credProps === true ? { credProps: { rk: true } } : {},
        authenticatorAttachment: attachment,
      };
    },

    assert(options, context) {
      const allowed = options.allowCredentials ?? [];
      if (allowed.length > 0 && !lists(allowed)) {
        throw new DOMException('The authenticator holds none of the allowed credentials.', 'NotAllowedError');
      }
      const clientData = clientDataJSON('webauthn.get', options.challenge, context.origin);
      const rpId = context.rpId ?? options.rpId ?? new URL(context.origin).hostname;
      if (settings.counter === 'increment') {
        if (state.counter >= MAX_COUNTER) throw new RangeError('the signature counter is exhausted');
        state.counter += 1;
      }
      const authData = authenticatorData(rpId, flags(0), state.counter);
      const signed = Buffer.concat([authData, createHash('sha256').update(clientData).digest()]);
      const signature =
        credential.algorithm === 'ES256'
          ? sign('sha256', signed, credential.privateKey) // ASN.1 DER, as WebAuthn wants for ES256
          : sign(null, signed, credential.privateKey);
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: {
          clientDataJSON: clientData.toString('base64url'),
          authenticatorData: authData.toString('base64url'),
          signature: signature.toString('base64url'),
          ...(state.userHandle === undefined ? {} : { userHandle: state.userHandle }),
        },
        clientExtensionResults: {},
        authenticatorAttachment: attachment,
      };
    },

    clone() {
      return makeAuthenticator(settings, credential, { ...state });
    },
  };
}

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * The client data, serialized as the spec does (type, challenge, origin, crossOrigin in that order).
 * The challenge goes through bytes as in a browser, which decodes the options' challenge and encodes
 * it again: a challenge in unpadded base64url comes out as given.
 */
function clientDataJSON(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string): Buffer {
  if (typeof challenge !== 'string' || !BASE64URL.test(challenge)) {
    throw new DOMException('The challenge is not base64url.', 'EncodingError');
  }
  const encoded = Buffer.from(challenge, 'base64url').toString('base64url');
  return Buffer.from(JSON.stringify({ type, challenge: encoded, origin, crossOrigin: false }), 'utf8');
}

function parseAaguid(aaguid: string): Buffer {
  const hex = aaguid.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
    throw new TypeError(`softwareAuthenticator: aaguid must be a UUID, not ${JSON.stringify(aaguid)}`);
  }
  return Buffer.from(hex, 'hex');
}

/** The CBOR this module writes: integers, byte strings, text strings, maps (in insertion order), arrays. */
type CborValue = number | string | Uint8Array | readonly CborValue[] | Map<number | string, CborValue>;

/** Encodes `value` as CBOR (RFC 8949), every length and integer in its shortest form. */
function cbor(value: CborValue): Buffer {
  const chunks: Buffer[] = [];
  const head = (major: number, argument: number) => {
    if (!Number.isSafeInteger(argument) || argument < 0)
      throw new RangeError(`CBOR: bad argument ${argument}`);
    const type = major << 5;
    if (argument < 24) {
      chunks.push(Buffer.from([type | argument]));
    } else if (argument < 0x100) {
      chunks.push(Buffer.from([type | 24, argument]));
    } else if (argument < 0x1_0000) {
      const bytes = Buffer.alloc(3);
      bytes[0] = type | 25;
      bytes.writeUInt16BE(argument, 1);
      chunks.push(bytes);
    } else if (argument < 0x1_0000_0000) {
      const bytes = Buffer.alloc(5);
      bytes[0] = type | 26;
      bytes.writeUInt32BE(argument, 1);
      chunks.push(bytes);
    } else {
      const bytes = Buffer.alloc(9);
      bytes[0] = type | 27;
      bytes.writeBigUInt64BE(BigInt(argument), 1);
      chunks.push(bytes);
    }
  };
  const write = (item: CborValue): void => {
    if (typeof item === 'number') {
      if (!Number.isSafeInteger(item)) throw new RangeError(`CBOR: only safe integers, not ${item}`);
      if (item >= 0) head(0, item);
      else head(1, -1 - item);
    } else if (typeof item === 'string') {
      const bytes = Buffer.from(item, 'utf8');
      head(3, bytes.length);
      chunks.push(bytes);
    } else if (item instanceof Uint8Array) {
      head(2, item.length);
      chunks.push(Buffer.from(item));
    } else if (item instanceof Map) {
      head(5, item.size);
      for (const [key, entry] of item) {
        write(key);
        write(entry);
      }
    } else {
      head(4, item.length);
      for (const entry of item) write(entry);
    }
  };
  write(value);
  return Buffer.concat(chunks);
}
