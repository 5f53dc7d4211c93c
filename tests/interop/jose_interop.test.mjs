// Gatehouse's access tokens checked by an independent JOSE implementation (`jose` on npm).
//
// For each signing algorithm (HS256, EdDSA, ES256) this starts the real `gatehouse serve`
// (path in GATEHOUSE_BINARY) with its own configuration and keys in a temporary directory,
// signs a user in over HTTPS, and then checks both directions:
//   - jose verifies the token Gatehouse issued (signature, typ, iss, aud, claims), fetching
//     the public keys through createRemoteJWKSet from /.well-known/jwks.json;
//   - Gatehouse refuses tokens that jose signs wrongly (wrong key, algorithm confusion,
//     alg "none", a tampered claim) and accepts one jose signs correctly for the same live
//     session. That positive control shows the refusals come from the signature or claim
//     under test, not from some other difference between jose's tokens and Gatehouse's.
//
// Run: GATEHOUSE_BINARY=build/gatehouse node --test tests/interop/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';

import * as jose from 'jose';

import { startGatehouse, writeSecret } from './support/gatehouse.mjs';

const ISSUER = 'https://gatehouse.interop.test';
const AUDIENCE = 'interop-api';
// Not the 24 h default, so `exp - iat` shows the setting is honoured.
const ACCESS_TTL_S = 600;
const USER_AGENT = 'gatehouse-interop-test/1';
const PASSWORD = 'Interop-Test-9!pass';

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

function encodeJson(value) {
  return b64url(JSON.stringify(value));
}

function decodeSegment(segment) {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

function openssl(args) {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

// The token keys for `alg` in `dir`, and what the test keeps of them. Nothing here carries
// the development marker line, so every secret file holds exactly the secret (plus one
// trailing newline, which Gatehouse strips).
function tokenKeys(alg, dir) {
  const kept = {};
  let keyLine;
  if (alg === 'HS256') {
    const hmacSecretText = randomBytes(48).toString('base64');
    const hmacFile = path.join(dir, 'token-hmac.key');
    writeSecret(hmacFile, `${hmacSecretText}\n`);
    kept.hmacSecret = new TextEncoder().encode(hmacSecretText);
    keyLine = `hmac_secret_file = "${hmacFile}"`;
  } else {
    const signingKeyFile = path.join(dir, 'token-signing.pem');
    const genpkey = alg === 'EdDSA'
      ? ['genpkey', '-algorithm', 'ed25519']
      : ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    openssl([...genpkey, '-out', signingKeyFile]);
    chmodSync(signingKeyFile, 0o600);
    kept.privateKey = createPrivateKey(readFileSync(signingKeyFile));
    kept.publicKey = createPublicKey(kept.privateKey);
    keyLine = `signing_key_file = "${signingKeyFile}"`;
  }
  kept.toml = `algorithm = "${alg}"
${keyLine}
issuer = "${ISSUER}"
audience = "${AUDIENCE}"
access_ttl_s = ${ACCESS_TTL_S}`;
  return kept;
}

async function startServer(alg) {
  let kept;
  const server = await startGatehouse(`jose-${alg.toLowerCase()}`, {
    tokens: (dir) => {
      kept = tokenKeys(alg, dir);
      return kept.toml;
    },
  });
  return Object.assign(server, { alg, ...kept });
}

// One HTTPS request with the same User-Agent every time: Gatehouse binds a session to the
// device fingerprint.
function request(server, method, urlPath, { headers = {}, body } = {}) {
  return server.request(urlPath,
    { method, body, headers: { 'User-Agent': USER_AGENT, ...headers } });
}

// jose's fetch hook (jose.customFetch), so createRemoteJWKSet can reach a server whose
// certificate only this test trusts. Counts the calls: the test proves jose really fetched.
function trustingFetch(server) {
  const fetcher = async (url, options) => {
    fetcher.calls += 1;
    const target = new URL(url);
    assert.equal(target.port, String(server.port));
    const res = await request(server, options.method ?? 'GET', target.pathname, {
      headers: Object.fromEntries(new Headers(options.headers ?? {})),
    });
    return new Response(res.text, { status: res.status, headers: res.headers });
  };
  fetcher.calls = 0;
  return fetcher;
}

async function signIn(server) {
  const email = `jose-${server.alg.toLowerCase()}@example.com`;
  const registered = await request(server, 'POST', '/v1/auth/register',
    { body: { email, password: PASSWORD } });
  assert.equal(registered.status, 201, `register: ${registered.text}`);
  const login = await request(server, 'POST', '/v1/auth/login',
    { body: { email, password: PASSWORD } });
  assert.equal(login.status, 200, `login: ${login.text}`);
  return { accountId: JSON.parse(registered.text).id, grant: JSON.parse(login.text) };
}

function verifyWith(server, token) {
  return request(server, 'GET', '/v1/auth/verify',
    { headers: { Authorization: `Bearer ${token}` } });
}

async function assertRejected(server, token, what) {
  const res = await verifyWith(server, token);
  assert.equal(res.status, 401, `${what}: expected 401, got ${res.status} ${res.text}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/, what);
  assert.equal(res.headers['x-auth-user'], undefined, what);
}

function signHs256(header, claims, secret) {
  return new jose.SignJWT(claims).setProtectedHeader({ ...header, alg: 'HS256' }).sign(secret);
}

// An unsecured JWS (RFC 7515 appendix A.5) built by hand: jose refuses to make one.
function unsecured(header, claims, signature = '') {
  return `${encodeJson({ ...header, alg: 'none' })}.${encodeJson(claims)}.${signature}`;
}

// ECDSA signatures are malleable: (R, n - S) verifies wherever (R, S) does. Gatehouse signs
// with a low S and refuses a high S on its own tokens (src/crypto/jose_keys.h), while jose,
// like OpenSSL, leaves S as the nonce gives it. These move a JWS between the two spellings.
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function ecdsaS(token) {
  const signature = Buffer.from(token.split('.')[2], 'base64url');
  assert.equal(signature.length, 64, 'ES256 signature is R || S, 32 bytes each');
  return BigInt(`0x${signature.subarray(32).toString('hex')}`);
}

function withEcdsaS(token, s) {
  const [headerPart, claimsPart, signaturePart] = token.split('.');
  const signature = Buffer.from(signaturePart, 'base64url');
  Buffer.from(s.toString(16).padStart(64, '0'), 'hex').copy(signature, 32);
  return `${headerPart}.${claimsPart}.${b64url(signature)}`;
}

function isLowS(token) {
  return ecdsaS(token) <= P256_ORDER / 2n;
}

function lowSTwin(token) {
  return isLowS(token) ? token : withEcdsaS(token, P256_ORDER - ecdsaS(token));
}

function highSTwin(token) {
  return isLowS(token) ? withEcdsaS(token, P256_ORDER - ecdsaS(token)) : token;
}

// The bytes an attacker would try as an HMAC secret in an algorithm-confusion attack: the
// public key in every form a verifier might hand to HMAC.
function publicKeyAsSecrets(publicKey) {
  const jwk = publicKey.export({ format: 'jwk' });
  const raw = jwk.kty === 'OKP'
    ? Buffer.from(jwk.x, 'base64url')
    : Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'),
      Buffer.from(jwk.y, 'base64url')]);
  return {
    'raw public key': new Uint8Array(raw),
    'SPKI DER': new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    'SPKI PEM': new TextEncoder().encode(publicKey.export({ type: 'spki', format: 'pem' })),
  };
}

for (const alg of ['HS256', 'EdDSA', 'ES256']) {
  describe(`gatehouse with ${alg} access tokens`, () => {
    let server;
    let accountId;
    let grant;
    let header;  // The protected header Gatehouse issued.
    let claims;  // The claims Gatehouse issued, for this live session.

    before(async () => {
      server = await startServer(alg);
      ({ accountId, grant } = await signIn(server));
      const [headerPart, claimsPart] = grant.access_token.split('.');
      header = decodeSegment(headerPart);
      claims = decodeSegment(claimsPart);
    });

    after(async () => {
      await server?.stop();
    });

    test('jose verifies the access token Gatehouse issued', async () => {
      const options = {
        algorithms: [alg],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: 'at+jwt',
        requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'amr'],
      };
      let verified;
      if (alg === 'HS256') {
        verified = await jose.jwtVerify(grant.access_token, server.hmacSecret, options);
      } else {
        const fetcher = trustingFetch(server);
        const jwks = jose.createRemoteJWKSet(
          new URL(`https://127.0.0.1:${server.port}/.well-known/jwks.json`),
          { [jose.customFetch]: fetcher });
        verified = await jose.jwtVerify(grant.access_token, jwks, options);
        assert.equal(fetcher.calls, 1, 'jose fetched the JWKS from the server');
      }

      const { payload, protectedHeader } = verified;
      assert.equal(protectedHeader.alg, alg);
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.equal(typeof protectedHeader.kid, 'string');
      assert.equal(payload.iss, ISSUER);
      assert.equal(payload.aud, AUDIENCE);
      assert.equal(payload.sub, accountId);
      assert.ok(typeof payload.sid === 'string' && payload.sid.length > 0, 'sid');
      assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16, 'jti');
      assert.deepEqual(payload.amr, ['pwd']);
      assert.equal(payload.exp - payload.iat, ACCESS_TTL_S);
      assert.equal(grant.expires_in, ACCESS_TTL_S);
      assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60, 'iat is now');
      assert.equal(grant.token_type, 'Bearer');
    });

    test('the JWKS publishes exactly the public signing key, and never a secret', async () => {
      const res = await request(server, 'GET', '/.well-known/jwks.json');
      assert.equal(res.status, 200);
      const { keys } = JSON.parse(res.text);
      assert.ok(Array.isArray(keys));
      for (const key of keys) {
        // A symmetric key or a private part in the JWKS would let anyone mint tokens.
        assert.equal(key.k, undefined);
        assert.equal(key.d, undefined);
        assert.notEqual(key.kty, 'oct');
      }
      if (alg === 'HS256') {
        assert.deepEqual(keys, []);
        return;
      }
      assert.equal(keys.length, 1);
      const published = keys[0];
      const expected = server.publicKey.export({ format: 'jwk' });
      assert.equal(published.kty, expected.kty);
      assert.equal(published.crv, expected.crv);
      assert.equal(published.x, expected.x);
      assert.equal(published.y, expected.y);
      assert.equal(published.kid, header.kid);
      // RFC 7638: the kid Gatehouse derives is the key's SHA-256 thumbprint.
      assert.equal(header.kid, await jose.calculateJwkThumbprint(expected, 'sha256'));
    });

    test('Gatehouse accepts its own token', async () => {
      const res = await verifyWith(server, grant.access_token);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-auth-user'], claims.sub);
      assert.equal(res.headers['x-auth-session'], claims.sid);
      assert.equal(res.headers['x-auth-methods'], 'pwd');
    });

    test('rejects a token signed with a different HS256 secret under the real kid',
      async () => {
        const token = await signHs256(header, claims, randomBytes(48));
        await assertRejected(server, token, 'wrong HS256 secret');
      });

    test('rejects an unsecured token (alg "none")', async () => {
      const realSignature = grant.access_token.split('.')[2];
      await assertRejected(server, unsecured(header, claims), 'alg none, empty signature');
      await assertRejected(server, unsecured(header, claims, realSignature),
        'alg none, signature of the real token');
      const shouting = `${encodeJson({ ...header, alg: 'NONE' })}.${encodeJson(claims)}.`;
      await assertRejected(server, shouting, 'alg NONE');
    });

    test('rejects a token signed with a fresh Ed25519 key under the real kid', async () => {
      const { privateKey } = await jose.generateKeyPair('EdDSA');
      const token = await new jose.SignJWT(claims)
        .setProtectedHeader({ ...header, alg: 'EdDSA' }).sign(privateKey);
      await assertRejected(server, token, 'other Ed25519 key');
    });

    if (alg === 'ES256') {
      test('rejects a token signed with a fresh P-256 key under the real kid', async () => {
        const { privateKey } = await jose.generateKeyPair('ES256');
        // Low S, so the key is what is wrong, not the spelling of the signature.
        const token = lowSTwin(await new jose.SignJWT(claims)
          .setProtectedHeader({ ...header, alg: 'ES256' }).sign(privateKey));
        await assertRejected(server, token, 'other P-256 key');
      });
    }

    if (alg !== 'HS256') {
      test('rejects HS256 keyed with the public key (algorithm confusion)', async () => {
        for (const [form, secret] of Object.entries(publicKeyAsSecrets(server.publicKey))) {
          const token = await signHs256(header, claims, secret);
          await assertRejected(server, token, `HS256 with the ${form} as secret`);
        }
      });
    }

    // Signs with the real key: the secret for HS256, the configured private key otherwise.
    // An ES256 signature is brought to low S, the spelling Gatehouse's own signer uses.
    const signRight = async (protectedHeader, payload) => {
      const key = alg === 'HS256' ? server.hmacSecret : server.privateKey;
      const token = await new jose.SignJWT(payload)
        .setProtectedHeader({ ...protectedHeader, alg }).sign(key);
      return alg === 'ES256' ? lowSTwin(token) : token;
    };

    if (alg === 'ES256') {
      test('signs with a low S and refuses the high-S twin of its own token', async () => {
        assert.ok(isLowS(grant.access_token), 'Gatehouse signs ES256 with a low S');
        const twin = highSTwin(grant.access_token);
        assert.notEqual(twin, grant.access_token);
        // The twin is a valid signature to jose: the 401 is Gatehouse's malleability rule,
        // not a broken signature.
        await jose.jwtVerify(twin, server.publicKey, { algorithms: ['ES256'] });
        await assertRejected(server, twin, 'high-S twin of the issued token');
      });
    }

    test('rejects a correctly signed token whose claims or typ were changed', async () => {
      const cases = {
        'aud of another service': { ...claims, aud: 'another-api' },
        'iss of another issuer': { ...claims, iss: 'https://evil.example' },
        'exp in the past': { ...claims, exp: Math.floor(Date.now() / 1000) - 3600 },
        'session that does not exist': { ...claims, sid: `${claims.sid}x` },
      };
      for (const [what, payload] of Object.entries(cases)) {
        await assertRejected(server, await signRight(header, payload), what);
      }
      await assertRejected(server, await signRight({ ...header, typ: 'JWT' }, claims),
        'typ JWT instead of at+jwt');
    });

    // Last on purpose: after every rejection above, the session is still alive and a token
    // jose signs right for it verifies. So each 401 above was for its own defect.
    test('accepts a token jose signs with the right key for the live session', async () => {
      for (const [what, payload] of Object.entries({
        'the issued claims': claims,
        'a fresh jti and iat': {
          ...claims,
          jti: b64url(randomBytes(16)),
          iat: Math.floor(Date.now() / 1000),
          nbf: Math.floor(Date.now() / 1000),
          exp: Math.floor(Date.now() / 1000) + ACCESS_TTL_S,
        },
      })) {
        const token = await signRight(header, payload);
        const res = await verifyWith(server, token);
        assert.equal(res.status, 200, `${what}: ${res.status} ${res.text}`);
        assert.equal(res.headers['x-auth-user'], claims.sub, what);
        assert.equal(res.headers['x-auth-session'], claims.sid, what);
      }
    });

    test('stops cleanly on SIGTERM', async () => {
      const status = await server.stop();
      assert.deepEqual(status, { code: 0, signal: null },
        `gatehouse exit: ${JSON.stringify(status)}\n${server.output()}`);
    });
  });
}
