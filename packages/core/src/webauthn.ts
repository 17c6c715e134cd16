/**
 * WebAuthn for the engine: the relying-party options checked at startup, the shape checks of what
 * a browser sends, and the calls into @simplewebauthn/server (loaded on first use, so an app that
 * never turns WebAuthn on never loads it).
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';

export type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
};

/** COSE algorithms accepted for new credentials: EdDSA (Ed25519), ES256, RS256. */
export const WEBAUTHN_ALGORITHMS = [-8, -7, -257] as const;

/** The longest credential id WebAuthn allows is 1,023 bytes: 1,364 characters of base64url. */
export const MAX_CREDENTIAL_ID_LENGTH = 1366;

/** Generous bounds on what a browser sends, far above any real authenticator's answer. */
const MAX_CLIENT_DATA = 4096;
const MAX_AUTHENTICATOR_DATA = 16_384;
const MAX_ATTESTATION = 65_536;
const MAX_SIGNATURE = 4096;

/** Whether `host` is `rpId` itself or a subdomain of it (what the WebAuthn spec allows). */
function hostFitsRpId(host: string, rpId: string): boolean {
  return host === rpId || host.endsWith(`.${rpId}`);
}

/** A host name WebAuthn accepts as an RP ID: a lowercase domain (or `localhost`), no port or scheme. */
const RP_ID =
  /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The `webauthn` option of the engine, validated when it is created. */
export const webAuthnOptionsSchema = z
  .strictObject({
    /**
     * The relying party id: the domain the credentials belong to (e.g. `example.com`), which every
     * origin's host must equal or be a subdomain of. No scheme, no port.
     */
    rpId: z
      .string({ error: 'must be a domain name such as "example.com" (no scheme, no port)' })
      .regex(RP_ID, 'must be a lowercase domain name such as "example.com" (no scheme, no port)'),
    /** The name browsers show when a key is registered (default: the issuer). */
    rpName: z.string().min(1).max(64).optional(),
    /**
     * Every origin the pages run on, e.g. `["https://example.com"]`: https, or http on localhost
     * (what browsers allow). An assertion made on any other origin is refused.
     */
    origins: z.array(z.string()).min(1, 'must list at least one origin'),
    /** Whether the authenticator must verify the user (PIN, biometrics). */
    userVerification: z.enum(['required', 'preferred', 'discouraged']).default('preferred'),
    /**
     * The attestation asked of new keys. `none` (default) records no model; `direct` keeps the
     * model's AAGUID, with the statement's format checked but no trust anchors.
     */
    attestation: z.enum(['none', 'direct']).default('none'),
    /** How long options stay valid, in ms (default 5 min). */
    timeoutMs: z.number().int().min(30_000).max(600_000).default(300_000),
  })
  .superRefine((options, context) => {
    options.origins.forEach((origin, index) => {
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        context.addIssue({ code: 'custom', path: ['origins', index], message: `"${origin}" is not a URL` });
        return;
      }
      const secure = url.protocol === 'https:' || (url.protocol === 'http:' && url.hostname === 'localhost');
      if (!secure || url.origin !== origin) {
        context.addIssue({
          code: 'custom',
          path: ['origins', index],
          message: `"${origin}" must be an origin (scheme, host, port; no path or trailing slash) on https, or http on localhost`,
        });
      } else if (!hostFitsRpId(url.hostname, options.rpId)) {
        context.addIssue({
          code: 'custom',
          path: ['origins', index],
          message: `"${origin}" is not on rpId "${options.rpId}" or a subdomain of it`,
        });
      }
    });
  })
  .optional();

export type WebAuthnOptions = NonNullable<z.output<typeof webAuthnOptionsSchema>>;

const base64url = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

/** What `navigator.credentials.create()` answers, in JSON form (`@simplewebauthn/browser` gives it). */
const registrationResponseSchema = z.object({
  id: base64url(MAX_CREDENTIAL_ID_LENGTH),
  rawId: base64url(MAX_CREDENTIAL_ID_LENGTH),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url(MAX_CLIENT_DATA),
    attestationObject: base64url(MAX_ATTESTATION),
    transports: z.array(z.string().max(32)).max(8).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
});

/** What `navigator.credentials.get()` answers, in JSON form. */
const authenticationResponseSchema = z.object({
  id: base64url(MAX_CREDENTIAL_ID_LENGTH),
  rawId: base64url(MAX_CREDENTIAL_ID_LENGTH),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url(MAX_CLIENT_DATA),
    authenticatorData: base64url(MAX_AUTHENTICATOR_DATA),
    signature: base64url(MAX_SIGNATURE),
    userHandle: base64url(1024).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
});

/** A registration response of the right shape and sizes, or null. */
export function parseRegistrationResponse(value: unknown): RegistrationResponseJSON | null {
  const parsed = registrationResponseSchema.safeParse(value);
  return parsed.success ? (parsed.data as RegistrationResponseJSON) : null;
}

/** An authentication response of the right shape and sizes, or null. */
export function parseAuthenticationResponse(value: unknown): AuthenticationResponseJSON | null {
  const parsed = authenticationResponseSchema.safeParse(value);
  return parsed.success ? (parsed.data as AuthenticationResponseJSON) : null;
}

/**
 * The challenge a response's `clientDataJSON` answers, or null when it is not JSON with a string
 * `challenge`. Only read to find the server state the response belongs to: the library checks the
 * whole of it again.
 */
export function clientChallenge(clientDataJSON: string): string | null {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    const challenge = (data as { challenge?: unknown } | null)?.challenge;
    return typeof challenge === 'string' && challenge.length > 0 && challenge.length <= 256
      ? challenge
      : null;
  } catch {
    return null;
  }
}

type SimpleWebAuthn = typeof import('@simplewebauthn/server');
let library: Promise<SimpleWebAuthn> | undefined;

/** @simplewebauthn/server, imported on first use. */
export function simpleWebAuthn(): Promise<SimpleWebAuthn> {
  library ??= import('@simplewebauthn/server');
  return library;
}
