// Sign in with an OpenID provider, against `oauth2-mock-server` from npm: an independent
// authorization server with discovery, a JWKS, PKCE and refresh tokens, run over HTTPS with
// a certificate only this test trusts. Its hooks make it misbehave one way at a time, and
// each misbehaviour must end in a clear refusal, a `login_failure` event and no session:
//   wrong nonce, wrong audience, expired ID token, bad signature, an error redirect,
//   a replayed state, a missing pre-auth cookie, a state swapped between two browsers,
//   return_to at a foreign origin, a TLS key pin mismatch, and a key rotation at the
//   provider (which must work: Gatehouse reads the new key set).
//
// Run: GATEHOUSE_BINARY=build/gatehouse node --test tests/interop/oidc_mock.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { OAuth2Server } from 'oauth2-mock-server';
import * as OTPAuth from 'otpauth';

import {
  freePort, httpsRequest, makeCertificate, startGatehouse, tempDir, writeSecret,
} from './support/gatehouse.mjs';

const CLIENT_ID = 'gatehouse-interop';
const CLIENT_SECRET = 'interop-client-secret-0123456789';
const USER_AGENT = 'gatehouse-oidc-interop/1';
const PASSWORD = 'Interop-Oidc-9!pass';

let provider;      // The mock, with its issuer URL.
let providerTls;   // Its certificate.
let gatehouse;     // Gatehouse with two providers: "mock" (pinned right) and "pinned"
//                    (pinned to another key).
let signedTokens;  // Header and payload of every ID token the mock signed, newest last.

async function startProvider(port) {
  const server = new OAuth2Server(providerTls.keyFile, providerTls.certFile);
  await server.issuer.keys.generate('RS256');
  // The default issuer is https://localhost:port; the certificate names 127.0.0.1 too, and
  // an address avoids depending on how localhost resolves.
  server.issuer.url = `https://127.0.0.1:${port}`;
  server.service.on('beforeTokenSigning', (token) => {
    // The ID token is the one addressed to the client (the access token has no aud here).
    if (token.payload.aud !== CLIENT_ID) return;
    token.payload.email = 'grace@example.org';
    token.payload.email_verified = true;
    token.payload.name = 'Grace Hopper';
    signedTokens.push(token);
  });
  await server.start(port, '127.0.0.1');
  return server;
}

before(async () => {
  signedTokens = [];
  const dir = tempDir('oidc-mock-peer');
  providerTls = makeCertificate(dir, 'provider');
  const otherTls = makeCertificate(dir, 'other');
  const port = await freePort();
  provider = await startProvider(port);
  provider.port = port;

  gatehouse = await startGatehouse('oidc-mock', {
    prepare: (gatehouseDir, gatehousePort) => {
      const secretFile = path.join(gatehouseDir, 'client.secret');
      writeSecret(secretFile, `${CLIENT_SECRET}\n`);
      const table = (id, pin) => `
[[oidc.providers]]
id = "${id}"
issuer = "${provider.issuer.url}"
client_id = "${CLIENT_ID}"
client_secret_file = "${secretFile}"
redirect_uri = "https://127.0.0.1:${gatehousePort}/v1/auth/oidc/${id}/callback"
ca_file = "${providerTls.certFile}"
pinned_public_keys = "${pin}"
link_by_email = true
`;
      return `
[oidc]
jwks_min_refresh_s = 1
return_to_origins = "https://app.example.com"

[rate_limit]
auth = "1000/1s"
registration = "1000/1s"
${table('mock', providerTls.pin)}${table('pinned', otherTls.pin)}`;
    },
  });
});

after(async () => {
  await gatehouse?.stop();
  await provider?.stop();
});

// A browser: its own cookie jar for Gatehouse, its User-Agent on every request.
function browser() {
  return { jar: new Map(), headers: { 'User-Agent': USER_AGENT } };
}

// Gatehouse's /start: the redirect to the provider, and the pre-auth cookie.
async function start(client, { providerId = 'mock', returnTo } = {}) {
  const query = returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`;
  return gatehouse.request(`/v1/auth/oidc/${providerId}/start${query}`, client);
}

// The provider's part: it signs the user in at once and redirects to the callback.
async function atProvider(location) {
  const res = await httpsRequest(location, { ca: providerTls.cert });
  assert.equal(res.status, 302, res.text);
  return res.headers.location;
}

// The whole sign-in up to Gatehouse's answer to the callback.
async function signIn(client, options = {}) {
  const started = await start(client, options);
  assert.equal(started.status, 302, started.text);
  const callback = new URL(await atProvider(started.headers.location));
  return gatehouse.request(`${callback.pathname}${callback.search}`, client);
}

function eventsOf(type) {
  return gatehouse.events().filter((e) => e.type === type);
}

// The log is written as it goes, not at the answer: wait (up to 3 s) for the event of `type`
// with `reason` that came after the first `skip` events of that type.
async function expectEvent(type, reason, skip) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const found = eventsOf(type).slice(skip).some((e) => e.reason === reason);
    if (found) return;
    if (Date.now() > deadline) {
      assert.fail(`no ${type} event with reason ${reason}; events: ` +
        JSON.stringify(eventsOf(type).slice(skip)));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Changes the next ID token the mock signs (it signs the access token first, with no nonce).
function onNextIdToken(change) {
  const handler = (token) => {
    if (token.payload.nonce === undefined) return;
    provider.service.off('beforeTokenSigning', handler);
    change(token);
  };
  provider.service.on('beforeTokenSigning', handler);
}

// Gatehouse logs at most five login_failure lines a second; the tests that read them keep
// under that pace.
const pace = () => new Promise((resolve) => setTimeout(resolve, 250));

describe('sign-in through oauth2-mock-server', () => {
  test('the authorization request carries state, nonce and an S256 challenge', async () => {
    const client = browser();
    const res = await start(client, { returnTo: '/app' });
    assert.equal(res.status, 302);
    assert.equal(res.headers['cache-control'], 'no-store');
    const to = new URL(res.headers.location);
    assert.equal(to.origin, provider.issuer.url);
    assert.equal(to.pathname, '/authorize');
    const q = to.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), CLIENT_ID);
    assert.equal(q.get('redirect_uri'), `${gatehouse.url}/v1/auth/oidc/mock/callback`);
    assert.equal(q.get('scope'), 'openid email profile');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get('state'), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get('nonce'), /^[A-Za-z0-9_-]{43}$/);
    const cookie = res.cookies.find((c) => c.startsWith('__Host-gh_oidc='));
    assert.ok(cookie, 'pre-auth cookie set');
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.match(cookie, /; Path=\//);
  });

  test('a sign-in makes an account and the same session a password login makes', async () => {
    const client = browser();
    const res = await signIn(client, { returnTo: '/app?tab=1' });
    assert.equal(res.status, 303, res.text);
    assert.equal(res.headers.location, '/app?tab=1');
    assert.ok(client.jar.has('__Host-gh_session'), 'session cookie set');
    assert.ok(!client.jar.has('__Host-gh_oidc'), 'pre-auth cookie cleared');
    const session = res.cookies.find((c) => c.startsWith('__Host-gh_session='));
    assert.match(session, /; Secure/);
    assert.match(session, /; HttpOnly/);
    assert.match(session, /; SameSite=Strict/);

    const verified = await gatehouse.request('/v1/auth/verify', client);
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.headers['x-auth-methods'], 'fed');
    const user = verified.headers['x-auth-user'];

    // The same provider identity signs in to the same account next time.
    const again = browser();
    assert.equal((await signIn(again)).status, 303);
    const second = await gatehouse.request('/v1/auth/verify', again);
    assert.equal(second.headers['x-auth-user'], user);

    const linked = await gatehouse.request('/v1/me/providers', client);
    assert.equal(linked.status, 200, linked.text);
    assert.deepEqual(linked.json.providers.map((p) => p.provider), ['mock']);
    assert.equal(linked.json.providers[0].has_refresh_token, true);
    await expectEvent('login_success', 'oidc', 0);
  });

  test('the provider access token is handed out, and refreshed before it expires', async () => {
    const client = browser();
    // Access tokens live 30 s during this test: inside the refresh margin at once.
    const grants = [];
    const shortLived = (response, req) => {
      response.body.expires_in = 30;
      grants.push(req.body.grant_type);
    };
    provider.service.on('beforeResponse', shortLived);
    try {
      assert.equal((await signIn(client)).status, 303);
      const first = await gatehouse.request('/v1/me/providers/mock/token', client);
      assert.equal(first.status, 200, first.text);
      assert.equal(first.headers['cache-control'], 'no-store');
      const second = await gatehouse.request('/v1/me/providers/mock/token', client);
      assert.equal(second.status, 200, second.text);
      // Each call refreshed at the provider first.
      assert.deepEqual(grants, ['authorization_code', 'refresh_token', 'refresh_token']);
    } finally {
      provider.service.off('beforeResponse', shortLived);
    }

    // With a lasting token, the kept one is handed out without asking the provider.
    const steady = browser();
    assert.equal((await signIn(steady)).status, 303);
    const kept = await gatehouse.request('/v1/me/providers/mock/token', steady);
    const again = await gatehouse.request('/v1/me/providers/mock/token', steady);
    assert.equal(kept.json.access_token, again.json.access_token);
  });

  for (const [name, change, detail] of [
    ['a wrong nonce', (t) => { t.payload.nonce = 'not-this-sign-in'; }, 'nonce mismatch'],
    ['a wrong audience', (t) => { t.payload.aud = 'another-client'; }, 'aud mismatch'],
    ['an expired ID token', (t) => { t.payload.exp = Math.floor(Date.now() / 1000) - 3600; },
      'exp in the past'],
  ]) {
    test(`${name} is refused`, async () => {
      await pace();
      onNextIdToken(change);
      const client = browser();
      const before = eventsOf('login_failure').length;
      const res = await signIn(client);
      assert.equal(res.status, 401, res.text);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.ok(!client.jar.has('__Host-gh_session'), 'no session');
      await expectEvent('login_failure', 'id_token_invalid', before);
      assert.ok(gatehouse.output().includes(detail), `log names "${detail}"`);
    });
  }

  test('an ID token with a broken signature is refused', async () => {
    await pace();
    const before = eventsOf('login_failure').length;
    provider.service.once('beforeResponse', (response) => {
      const parts = response.body.id_token.split('.');
      const signature = Buffer.from(parts[2], 'base64url');
      signature[0] ^= 1;
      parts[2] = signature.toString('base64url');
      response.body.id_token = parts.join('.');
    });
    const client = browser();
    const res = await signIn(client);
    assert.equal(res.status, 401, res.text);
    assert.ok(!client.jar.has('__Host-gh_session'));
    await expectEvent('login_failure', 'id_token_invalid', before);
    assert.ok(gatehouse.output().includes('signature mismatch'));
  });

  test('an error redirect from the provider ends the sign-in clearly', async () => {
    await pace();
    provider.service.once('beforeAuthorizeRedirect', ({ url }) => {
      url.searchParams.delete('code');
      url.searchParams.set('error', 'access_denied');
    });
    const client = browser();
    const before = eventsOf('login_failure').length;
    const res = await signIn(client);
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.detail, /did not sign you in/);
    await expectEvent('login_failure', 'provider_error', before);
    assert.ok(!client.jar.has('__Host-gh_session'));
  });

  test('an answer naming another issuer is refused (RFC 9207 mix-up)', async () => {
    await pace();
    provider.service.once('beforeAuthorizeRedirect', ({ url }) => {
      url.searchParams.set('iss', 'https://evil.example');
    });
    const client = browser();
    const before = eventsOf('login_failure').length;
    const res = await signIn(client);
    assert.equal(res.status, 403, res.text);
    assert.ok(!client.jar.has('__Host-gh_session'));
    await expectEvent('login_failure', 'provider_mixup', before);
  });

  test('a state is good for one callback only', async () => {
    const client = browser();
    const started = await start(client);
    const callback = new URL(await atProvider(started.headers.location));
    const target = `${callback.pathname}${callback.search}`;
    const jar = new Map(client.jar);
    assert.equal((await gatehouse.request(target, client)).status, 303);
    const replay = await gatehouse.request(target, { ...client, jar });
    assert.equal(replay.status, 403, replay.text);
  });

  test('a callback without the pre-auth cookie is refused', async () => {
    const client = browser();
    const started = await start(client);
    const callback = new URL(await atProvider(started.headers.location));
    const stranger = browser();
    const res = await gatehouse.request(`${callback.pathname}${callback.search}`, stranger);
    assert.equal(res.status, 403, res.text);
    assert.ok(!stranger.jar.has('__Host-gh_session'));
  });

  test('a state swapped between two browsers is refused and reported', async () => {
    const attacker = browser();
    const victim = browser();
    const attackerStart = await start(attacker);
    await start(victim);  // The victim has a pre-auth cookie of its own.
    const callback = new URL(await atProvider(attackerStart.headers.location));
    const before = eventsOf('suspicious_activity').length;
    const res = await gatehouse.request(`${callback.pathname}${callback.search}`, victim);
    assert.equal(res.status, 403, res.text);
    assert.ok(!victim.jar.has('__Host-gh_session'));
    await expectEvent('suspicious_activity', 'oidc_state_other_browser', before);
  });

  test('return_to may name this service or a configured origin only', async () => {
    for (const bad of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const res = await start(browser(), { returnTo: bad });
      assert.equal(res.status, 400, `${bad}: ${res.text}`);
      assert.equal(res.headers.location, undefined);
    }
    const ok = await start(browser(), { returnTo: 'https://app.example.com/home' });
    assert.equal(ok.status, 302, ok.text);
  });

  test('a provider whose TLS key is not the pinned one is refused and reported', async () => {
    const before = eventsOf('suspicious_activity').length;
    const res = await start(browser(), { providerId: 'pinned' });
    assert.equal(res.status, 503, res.text);
    await expectEvent('suspicious_activity', 'provider_key_pin_mismatch', before);
  });

  test('a key rotation at the provider is followed', async () => {
    const client = browser();
    assert.equal((await signIn(client)).status, 303);
    const oldKid = signedTokens.at(-1).header.kid;
    // The provider adds an ES256 key; it signs the next ID token (the mock takes turns).
    const added = await provider.issuer.keys.generate('ES256');
    await new Promise((resolve) => setTimeout(resolve, 1100));  // jwks_min_refresh_s = 1
    const rotated = browser();
    const res = await signIn(rotated);
    assert.equal(res.status, 303, res.text);
    assert.notEqual(added.kid, oldKid);
    assert.equal(signedTokens.at(-1).header.kid, added.kid);
  });

  test('a second factor comes before the session', async () => {
    // A password account with TOTP, for the email the provider vouches for.
    const email = 'grace.mfa@example.org';
    const user = browser();
    assert.equal((await gatehouse.request('/v1/auth/register', {
      ...user, body: { email, password: PASSWORD },
    })).status, 201);
    const login = await gatehouse.request('/v1/auth/login', {
      ...user, body: { email, password: PASSWORD },
    });
    const token = login.json.access_token;
    const auth = { ...user, headers: { ...user.headers, Authorization: `Bearer ${token}` } };
    const enrol = await gatehouse.request('/v1/me/mfa/totp', { ...auth, method: 'POST', body: {} });
    assert.equal(enrol.status, 201, enrol.text);
    const totp = OTPAuth.URI.parse(enrol.json.otpauth_uri);
    const confirm = await gatehouse.request('/v1/me/mfa/totp/confirm', {
      ...auth, method: 'POST', body: { code: totp.generate() },
    });
    assert.equal(confirm.status, 200, confirm.text);

    // Another person at the provider, whose verified email is the password account's.
    onNextIdToken((t) => {
      t.payload.sub = 'grace-mfa';
      t.payload.email = email;
    });
    const client = browser();
    const res = await signIn(client, { returnTo: '/app' });
    assert.equal(res.status, 303, res.text);
    assert.ok(!client.jar.has('__Host-gh_session'), 'no session before the second factor');
    const landing = new URL(res.headers.location, gatehouse.url);
    const fragment = new URLSearchParams(landing.hash.slice(1));
    assert.equal(fragment.get('mfa_required'), 'true');
    // The code of the next step: the enrolment's code is spent.
    const next = totp.generate({ timestamp: Date.now() + 30000 });
    const verified = await gatehouse.request('/v1/auth/mfa/verify', {
      ...client, method: 'POST', body: { ticket: fragment.get('mfa_ticket'), code: next },
    });
    assert.equal(verified.status, 200, verified.text);
    const check = await gatehouse.request('/v1/auth/verify', {
      ...client,
      headers: { ...client.headers, Authorization: `Bearer ${verified.json.access_token}` },
    });
    assert.equal(check.status, 200, check.text);
    assert.equal(check.headers['x-auth-methods'], 'fed,otp,mfa');
  });
});
