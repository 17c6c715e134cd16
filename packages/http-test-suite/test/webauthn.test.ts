/**
 * The software authenticator against the real verifier, @simplewebauthn/server 13: registrations and
 * assertions for ES256 and EdDSA, counting keys and keys that keep 0, wrong origins and RP IDs, cloned
 * keys, excludeCredentials / allowCredentials, the UV, BE and BS flags. Imported by the package's own
 * subpath, so the export is proved too.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import { decodeAttestationObject, parseAuthenticatorData } from '@simplewebauthn/server/helpers';
import {
  type SoftwareAuthenticator,
  type SoftwareAuthenticatorOptions,
  softwareAuthenticator,
} from '@twofold/http-test-suite/webauthn';
import t from 'tap';

const RP_ID = 'example.com';
const ORIGIN = 'https://example.com';
const USER_ID = new TextEncoder().encode('user-42');

function registrationOptions(extra: Partial<Parameters<typeof generateRegistrationOptions>[0]> = {}) {
  return generateRegistrationOptions({
    rpName: 'Example',
    rpID: RP_ID,
    userName: 'alice@example.com',
    userID: USER_ID,
    ...extra,
  });
}

/** Registers `authenticator` and verifies it: the stored credential, as a relying party keeps it. */
async function register(authenticator: SoftwareAuthenticator): Promise<WebAuthnCredential> {
  const options = await registrationOptions();
  const response = authenticator.register(options, { origin: ORIGIN });
  const result = await verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
  });
  if (!result.verified) throw new Error('registration not verified');
  return result.registrationInfo.credential;
}

/** One assertion made and verified; the stored counter moves on as a relying party would move it. */
async function authenticate(
  authenticator: SoftwareAuthenticator,
  credential: WebAuthnCredential,
  context: { origin?: string; rpId?: string; expectedOrigin?: string } = {},
) {
  const options = await generateAuthenticationOptions({
    rpID: RP_ID,
    allowCredentials: [{ id: credential.id }],
  });
  const response = authenticator.assert(options, {
    origin: context.origin ?? ORIGIN,
    ...(context.rpId ? { rpId: context.rpId } : {}),
  });
  const result = await verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: context.expectedOrigin ?? ORIGIN,
    expectedRPID: RP_ID,
    credential,
  });
  if (result.verified) credential.counter = result.authenticationInfo.newCounter;
  return { response, result };
}

for (const algorithm of ['ES256', 'EdDSA'] as const) {
  for (const counter of ['increment', 'zero'] as const) {
    t.test(`${algorithm}, counter ${counter}`, async (t) => {
      const authenticator = softwareAuthenticator({ algorithm, counter });

      t.test('registration verifies, with the same credential id and public key', async (t) => {
        const options = await registrationOptions();
        const response = authenticator.register(options, { origin: ORIGIN });
        t.equal(response.id, authenticator.credentialId);
        t.equal(response.rawId, authenticator.credentialId);
        t.equal(Buffer.from(response.id, 'base64url').length, 32);
        t.same(response.response.transports, ['usb']);
        t.equal(response.authenticatorAttachment, 'cross-platform');
        t.equal(response.response.publicKeyAlgorithm, algorithm === 'ES256' ? -7 : -8);
        t.same(response.clientExtensionResults, { credProps: { rk: true } }, 'credProps, as asked');

        const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString());
        t.strictSame(clientData, {
          type: 'webauthn.create',
          challenge: options.challenge,
          origin: ORIGIN,
          crossOrigin: false,
        });

        const result = await verifyRegistrationResponse({
          response,
          expectedChallenge: options.challenge,
          expectedOrigin: ORIGIN,
          expectedRPID: RP_ID,
        });
        t.equal(result.verified, true);
        const info = result.registrationInfo!;
        t.equal(info.fmt, 'none');
        t.equal(info.aaguid, '00000000-0000-0000-0000-000000000000');
        t.equal(info.credential.id, authenticator.credentialId);
        t.same(Buffer.from(info.credential.publicKey), Buffer.from(authenticator.publicKey));
        t.equal(info.credential.counter, 0);
        t.equal(info.credentialDeviceType, 'singleDevice');
        t.equal(info.credentialBackedUp, false);
        t.equal(info.userVerified, true);
        t.equal(info.rpID, RP_ID);

        const authData = parseAuthenticatorData(
          Buffer.from(response.response.authenticatorData, 'base64url'),
        );
        t.equal(authData.flags.flagsInt, 0x45, 'UP | UV | AT');
        t.same(
          Buffer.from(response.response.authenticatorData, 'base64url'),
          Buffer.from(decodeAttestationObject(info.attestationObject).get('authData')),
          'authenticatorData is the one inside the attestation object',
        );
      });

      t.test('the SPKI public key of the response checks the signatures too', async (t) => {
        const options = await generateAuthenticationOptions({ rpID: RP_ID });
        const response = authenticator.clone().assert(options, { origin: ORIGIN });
        const registration = authenticator.register(await registrationOptions(), { origin: ORIGIN });
        const key = createPublicKey({
          key: Buffer.from(registration.response.publicKey, 'base64url'),
          format: 'der',
          type: 'spki',
        });
        const clientData = Buffer.from(response.response.clientDataJSON, 'base64url');
        const signed = Buffer.concat([
          Buffer.from(response.response.authenticatorData, 'base64url'),
          createHash('sha256').update(clientData).digest(),
        ]);
        const signature = Buffer.from(response.response.signature, 'base64url');
        t.equal(verify(algorithm === 'ES256' ? 'sha256' : null, signed, key, signature), true);
      });

      t.test('assertions verify and the counter follows', async (t) => {
        const auth = softwareAuthenticator({ algorithm, counter });
        const credential = await register(auth);
        for (let i = 1; i <= 3; i++) {
          const { response, result } = await authenticate(auth, credential);
          t.equal(result.verified, true, `assertion ${i}`);
          const expected = counter === 'increment' ? i : 0;
          t.equal(result.authenticationInfo.newCounter, expected);
          t.equal(auth.counter, expected);
          t.equal(result.authenticationInfo.credentialDeviceType, 'singleDevice');
          t.equal(result.authenticationInfo.userVerified, true);
          t.equal(response.response.userHandle, Buffer.from(USER_ID).toString('base64url'));
          const clientData = JSON.parse(
            Buffer.from(response.response.clientDataJSON, 'base64url').toString(),
          );
          t.equal(clientData.type, 'webauthn.get');
          t.equal(clientData.crossOrigin, false);
          const flags = parseAuthenticatorData(Buffer.from(response.response.authenticatorData, 'base64url'))
            .flags.flagsInt;
          t.equal(flags, 0x05, 'UP | UV, no AT');
        }
      });

      t.test('a signature checked with another key fails', async (t) => {
        const auth = softwareAuthenticator({ algorithm, counter });
        const credential = await register(auth);
        const other = softwareAuthenticator({ algorithm });
        const options = await generateAuthenticationOptions({ rpID: RP_ID });
        const result = await verifyAuthenticationResponse({
          response: auth.assert(options, { origin: ORIGIN }),
          expectedChallenge: options.challenge,
          expectedOrigin: ORIGIN,
          expectedRPID: RP_ID,
          credential: { ...credential, publicKey: other.publicKey },
        });
        t.equal(result.verified, false);
      });

      t.test('a wrong origin is refused', async (t) => {
        const options = await registrationOptions();
        await t.rejects(
          verifyRegistrationResponse({
            response: softwareAuthenticator({ algorithm, counter }).register(options, {
              origin: 'https://evil.example',
            }),
            expectedChallenge: options.challenge,
            expectedOrigin: ORIGIN,
            expectedRPID: RP_ID,
          }),
          /origin "https:\/\/evil\.example"/,
        );
        const auth = softwareAuthenticator({ algorithm, counter });
        const credential = await register(auth);
        await t.rejects(
          authenticate(auth, credential, { origin: 'https://example.com.evil.example' }),
          /Unexpected authentication response origin/,
        );
        await t.rejects(
          authenticate(auth, credential, { origin: 'http://example.com' }),
          /Unexpected authentication response origin/,
        );
      });

      t.test('a wrong RP ID is refused', async (t) => {
        const options = await registrationOptions();
        await t.rejects(
          verifyRegistrationResponse({
            response: softwareAuthenticator({ algorithm, counter }).register(options, {
              origin: ORIGIN,
              rpId: 'evil.example',
            }),
            expectedChallenge: options.challenge,
            expectedOrigin: ORIGIN,
            expectedRPID: RP_ID,
          }),
          { name: 'UnexpectedRPIDHash' },
        );
        const auth = softwareAuthenticator({ algorithm, counter });
        const credential = await register(auth);
        await t.rejects(authenticate(auth, credential, { rpId: 'sub.example.com' }), {
          name: 'UnexpectedRPIDHash',
        });
        t.equal((await authenticate(auth, credential)).result.verified, true, 'the right one still works');
      });

      t.test('a cloned key', async (t) => {
        const auth = softwareAuthenticator({ algorithm, counter });
        const credential = await register(auth);
        await authenticate(auth, credential);
        const clone = auth.clone();
        t.equal(clone.credentialId, auth.credentialId);
        t.same(Buffer.from(clone.publicKey), Buffer.from(auth.publicKey));
        t.equal(clone.counter, auth.counter);
        await authenticate(auth, credential); // the original moves on

        const options = await generateAuthenticationOptions({ rpID: RP_ID });
        const response = clone.assert(options, { origin: ORIGIN });
        const count = parseAuthenticatorData(
          Buffer.from(response.response.authenticatorData, 'base64url'),
        ).counter;
        t.ok(count <= credential.counter, `the clone counts ${count}, not above ${credential.counter}`);
        const verifying = verifyAuthenticationResponse({
          response,
          expectedChallenge: options.challenge,
          expectedOrigin: ORIGIN,
          expectedRPID: RP_ID,
          credential,
        });
        if (counter === 'increment') {
          await t.rejects(verifying, /Response counter value 2 was lower than expected 2/);
        } else {
          // Counters not in use (both 0): nothing tells the clone apart, as the spec allows.
          t.equal((await verifying).verified, true);
        }
      });
    });
  }
}

t.test('excludeCredentials', async (t) => {
  const auth = softwareAuthenticator();
  const other = softwareAuthenticator();
  const credential = await register(auth);
  const listed = await registrationOptions({ excludeCredentials: [{ id: credential.id }] });
  t.throws(() => auth.register(listed, { origin: ORIGIN }), { name: 'InvalidStateError' });
  t.throws(() => auth.clone().register(listed, { origin: ORIGIN }), { name: 'InvalidStateError' });
  const padded = await registrationOptions({ excludeCredentials: [{ id: `${credential.id}=` }] });
  t.throws(() => auth.register(padded, { origin: ORIGIN }), { name: 'InvalidStateError' }, 'padding aside');
  const response = other.register(listed, { origin: ORIGIN });
  const result = await verifyRegistrationResponse({
    response,
    expectedChallenge: listed.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
  });
  t.equal(result.verified, true, 'another key registers');
});

t.test('allowCredentials', async (t) => {
  const auth = softwareAuthenticator();
  const other = softwareAuthenticator();
  const credential = await register(auth);
  const otherOptions = await generateAuthenticationOptions({
    rpID: RP_ID,
    allowCredentials: [{ id: other.credentialId }],
  });
  t.throws(() => auth.assert(otherOptions, { origin: ORIGIN }), { name: 'NotAllowedError' });
  t.equal(auth.counter, 0, 'a refusal counts nothing');

  const both = await generateAuthenticationOptions({
    rpID: RP_ID,
    allowCredentials: [{ id: other.credentialId }, { id: credential.id }],
  });
  const listed = await verifyAuthenticationResponse({
    response: auth.assert(both, { origin: ORIGIN }),
    expectedChallenge: both.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
  });
  t.equal(listed.verified, true, 'listed among others');
  credential.counter = listed.authenticationInfo.newCounter;

  for (const allowCredentials of [undefined, []]) {
    const discoverable = await generateAuthenticationOptions({
      rpID: RP_ID,
      ...(allowCredentials ? { allowCredentials } : {}),
    });
    const response = auth.assert(discoverable, { origin: ORIGIN });
    t.equal(response.response.userHandle, Buffer.from(USER_ID).toString('base64url'), 'the user handle');
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: discoverable.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      credential,
    });
    t.equal(result.verified, true, `allowCredentials ${JSON.stringify(allowCredentials)}: discoverable`);
    credential.counter = result.authenticationInfo.newCounter;
  }

  const unregistered = softwareAuthenticator();
  const response = unregistered.assert(await generateAuthenticationOptions({ rpID: RP_ID }), {
    origin: ORIGIN,
  });
  t.notOk('userHandle' in response.response, 'no user handle before a registration');
});

t.test('pubKeyCredParams without the key algorithm', async (t) => {
  const rsaOnly = await registrationOptions({ supportedAlgorithmIDs: [-257] });
  t.throws(() => softwareAuthenticator().register(rsaOnly, { origin: ORIGIN }), {
    name: 'NotSupportedError',
  });
  const es256Only = await registrationOptions({ supportedAlgorithmIDs: [-7] });
  t.throws(() => softwareAuthenticator({ algorithm: 'EdDSA' }).register(es256Only, { origin: ORIGIN }), {
    name: 'NotSupportedError',
  });
  t.equal(softwareAuthenticator().register(es256Only, { origin: ORIGIN }).response.publicKeyAlgorithm, -7);
  const empty = { ...es256Only, pubKeyCredParams: [] };
  t.doesNotThrow(
    () => softwareAuthenticator().register(empty, { origin: ORIGIN }),
    'empty: ES256 by default',
  );
  t.throws(() => softwareAuthenticator({ algorithm: 'EdDSA' }).register(empty, { origin: ORIGIN }), {
    name: 'NotSupportedError',
  });
});

t.test('backup flags', async (t) => {
  const cases: [SoftwareAuthenticatorOptions, string, boolean][] = [
    [{}, 'singleDevice', false],
    [{ backupEligible: true }, 'multiDevice', true],
    [{ backupEligible: true, backupState: false }, 'multiDevice', false],
    [{ backupEligible: true, counter: 'zero', algorithm: 'EdDSA' }, 'multiDevice', true],
  ];
  for (const [options, deviceType, backedUp] of cases) {
    const auth = softwareAuthenticator(options);
    const regOptions = await registrationOptions();
    const response = auth.register(regOptions, { origin: ORIGIN });
    if (options.backupEligible) {
      t.same(response.response.transports, ['internal', 'hybrid']);
      t.equal(response.authenticatorAttachment, 'platform');
    }
    const { registrationInfo } = await verifyRegistrationResponse({
      response,
      expectedChallenge: regOptions.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
    });
    t.equal(registrationInfo!.credentialDeviceType, deviceType, JSON.stringify(options));
    t.equal(registrationInfo!.credentialBackedUp, backedUp);
    const { result } = await authenticate(auth, registrationInfo!.credential);
    t.equal(result.verified, true);
    t.equal(result.authenticationInfo.credentialDeviceType, deviceType);
    t.equal(result.authenticationInfo.credentialBackedUp, backedUp);
  }

  // BS without BE is impossible: the verifier says so.
  const odd = softwareAuthenticator({ backupState: true });
  const regOptions = await registrationOptions();
  await t.rejects(
    verifyRegistrationResponse({
      response: odd.register(regOptions, { origin: ORIGIN }),
      expectedChallenge: regOptions.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
    }),
    { name: 'InvalidBackupFlags' },
  );
});

t.test('user verification', async (t) => {
  const auth = softwareAuthenticator({ userVerified: false });
  const options = await registrationOptions();
  const response = auth.register(options, { origin: ORIGIN });
  const expected = { expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID };
  await t.rejects(verifyRegistrationResponse({ response, ...expected }), /User verification was required/);
  const registered = await verifyRegistrationResponse({
    response,
    ...expected,
    requireUserVerification: false,
  });
  t.equal(registered.registrationInfo!.userVerified, false);
  const credential = registered.registrationInfo!.credential;

  const authOptions = await generateAuthenticationOptions({ rpID: RP_ID });
  const assertion = auth.assert(authOptions, { origin: ORIGIN });
  const authExpected = {
    expectedChallenge: authOptions.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
  };
  await t.rejects(
    verifyAuthenticationResponse({ response: assertion, ...authExpected }),
    /User verification/,
  );
  const result = await verifyAuthenticationResponse({
    response: assertion,
    ...authExpected,
    requireUserVerification: false,
  });
  t.equal(result.verified, true);
  t.equal(result.authenticationInfo.userVerified, false);
});

t.test('a wrong challenge is refused', async (t) => {
  const auth = softwareAuthenticator();
  const options = await registrationOptions();
  const stale = await registrationOptions();
  await t.rejects(
    verifyRegistrationResponse({
      response: auth.register(stale, { origin: ORIGIN }),
      expectedChallenge: options.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
    }),
    /Unexpected registration response challenge/,
  );
  t.throws(() => auth.register({ ...options, challenge: 'not base64url!' }, { origin: ORIGIN }), {
    name: 'EncodingError',
  });
});

t.test('aaguid, counter setting, defaults from the origin', async (t) => {
  const aaguid = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';
  const auth = softwareAuthenticator({ aaguid });
  auth.counter = 41;
  const options = await registrationOptions();
  const { rp, ...rest } = options;
  const response = auth.register({ ...rest, rp: { name: rp.name } }, { origin: ORIGIN });
  const { registrationInfo } = await verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
  });
  t.equal(registrationInfo!.aaguid, aaguid);
  t.equal(registrationInfo!.rpID, RP_ID, 'no rp.id: the origin host, as a browser does');
  t.equal(registrationInfo!.credential.counter, 41, 'registration carries the counter as it stands');
  const credential = registrationInfo!.credential;
  const { result } = await authenticate(auth, credential);
  t.equal(result.authenticationInfo.newCounter, 42);

  t.throws(() => {
    auth.counter = -1;
  }, RangeError);
  t.throws(() => {
    auth.counter = 2 ** 32;
  }, RangeError);
  const zero = softwareAuthenticator({ counter: 'zero' });
  t.throws(() => {
    zero.counter = 1;
  }, RangeError);
  t.throws(() => softwareAuthenticator({ aaguid: 'nope' }), TypeError);
  auth.counter = 2 ** 32 - 1;
  const last = await generateAuthenticationOptions({ rpID: RP_ID });
  t.throws(() => auth.assert(last, { origin: ORIGIN }), RangeError, 'an exhausted counter');
});
