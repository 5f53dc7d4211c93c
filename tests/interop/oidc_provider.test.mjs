// Sign in with an OpenID provider, against `oidc-provider` from npm: a certified OpenID
// Provider, over HTTPS with a certificate only this test trusts, requiring PKCE. A script
// plays the browser: it follows every redirect, fills in the provider's login and consent
// forms, keeps one cookie jar per site, and ends signed in to Gatehouse.
//
// The provider keeps ID tokens lean as OpenID Connect Core 5.4 asks (the email comes from
// its UserInfo endpoint), signs with ES256, and adds `iss` to its authorization answers
// (RFC 9207), so this suite also covers what oauth2-mock-server does not.
//
// Run: GATEHOUSE_BINARY=build/gatehouse node --test tests/interop/oidc_provider.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import https from 'node:https';
import path from 'node:path';

import Provider from 'oidc-provider';

import {
  freePort, httpsRequest, makeCertificate, startGatehouse, tempDir, writeSecret,
} from './support/gatehouse.mjs';

const CLIENT_ID = 'gatehouse';
const CLIENT_SECRET = 'oidc-provider-client-secret-9876543210';
const USER_AGENT = 'gatehouse-oidc-provider-interop/1';

let issuer;
let providerTls;
let providerServer;
let gatehouse;
const accounts = new Map([
  ['ada', { email: 'ada@example.org', email_verified: true, name: 'Ada Lovelace' }],
  ['eve', { email: 'eve@example.org', email_verified: false, name: 'Eve' }],
]);

before(async () => {
  const dir = tempDir('oidc-provider-peer');
  providerTls = makeCertificate(dir, 'provider');
  const providerPort = await freePort();
  issuer = `https://127.0.0.1:${providerPort}`;

  gatehouse = await startGatehouse('oidc-provider', {
    prepare: (gatehouseDir, gatehousePort) => {
      const secretFile = path.join(gatehouseDir, 'client.secret');
      writeSecret(secretFile, `${CLIENT_SECRET}\n`);
      return `
[rate_limit]
auth = "1000/1s"

[[oidc.providers]]
id = "certified"
issuer = "${issuer}"
client_id = "${CLIENT_ID}"
client_secret_file = "${secretFile}"
redirect_uri = "https://127.0.0.1:${gatehousePort}/v1/auth/oidc/certified/callback"
ca_file = "${providerTls.certFile}"
pinned_public_keys = "${providerTls.pin}"
`;
    },
  });

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig',
    kid: 'es-1' };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${gatehouse.url}/v1/auth/oidc/certified/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [signingKey] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    findAccount: async (ctx, id) => {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    cookies: { keys: ['interop-cookie-key-0123456789abcdef'] },
    features: { devInteractions: { enabled: true } },
  });
  provider.on('server_error', (ctx, err) => console.error('provider error', err));
  providerServer = https.createServer({ key: providerTls.key, cert: providerTls.cert },
    provider.callback());
  await new Promise((resolve) => providerServer.listen(providerPort, '127.0.0.1', resolve));
});

after(async () => {
  await gatehouse?.stop();
  await new Promise((resolve) => (providerServer ? providerServer.close(resolve) : resolve()));
});

// The inputs of the one form on a page, its action and method.
function readForm(html) {
  const form = html.match(/<form[^>]*action="([^"]+)"[^>]*method="(\w+)"/i);
  assert.ok(form, `a form in:\n${html.slice(0, 500)}`);
  const fields = {};
  for (const input of html.matchAll(/<input([^>]*)>/gi)) {
    const name = input[1].match(/name="([^"]+)"/);
    const value = input[1].match(/value="([^"]*)"/);
    if (name) fields[name[1]] = value ? value[1] : '';
  }
  return { action: form[1].replaceAll('&amp;', '&'), method: form[2].toUpperCase(), fields };
}

// Plays the browser from Gatehouse's /start to its answer to the callback, signing in at the
// provider as `login`. Returns that answer and the Gatehouse cookie jar.
async function browse(login, { returnTo = '/home' } = {}) {
  const gatehouseJar = new Map();
  const providerJar = new Map();
  const headers = { 'User-Agent': USER_AGENT };
  const started = await gatehouse.request(
    `/v1/auth/oidc/certified/start?return_to=${encodeURIComponent(returnTo)}`,
    { jar: gatehouseJar, headers });
  assert.equal(started.status, 302, started.text);

  let url = started.headers.location;
  for (let step = 0; step < 20; step += 1) {
    if (url.startsWith(gatehouse.url)) {
      const target = new URL(url);
      const answer = await gatehouse.request(`${target.pathname}${target.search}`,
        { jar: gatehouseJar, headers });
      return { answer, jar: gatehouseJar, callback: target };
    }
    const absolute = new URL(url, issuer).href;
    const res = await httpsRequest(absolute, { ca: providerTls.cert, jar: providerJar, headers });
    if (res.status >= 300 && res.status < 400) {
      url = res.headers.location;
      continue;
    }
    assert.equal(res.status, 200, `${absolute}: ${res.text.slice(0, 500)}`);
    const form = readForm(res.text);
    if ('login' in form.fields) form.fields.login = login;
    if ('password' in form.fields) form.fields.password = 'any password will do';
    const posted = await httpsRequest(new URL(form.action, issuer).href, {
      method: form.method, form: form.fields, ca: providerTls.cert, jar: providerJar, headers,
    });
    assert.ok(posted.status >= 300 && posted.status < 400, posted.text.slice(0, 500));
    url = posted.headers.location;
  }
  assert.fail('the sign-in did not come back to Gatehouse');
}

describe('sign-in through oidc-provider (certified)', () => {
  test('login, consent and callback end in a Gatehouse session', async () => {
    const { answer, jar, callback } = await browse('ada');
    assert.equal(answer.status, 303, answer.text);
    assert.equal(answer.headers.location, '/home');
    // RFC 9207: the provider named itself in its answer.
    assert.equal(callback.searchParams.get('iss'), issuer);
    assert.ok(jar.has('__Host-gh_session'));

    const verified = await gatehouse.request('/v1/auth/verify',
      { jar, headers: { 'User-Agent': USER_AGENT } });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.headers['x-auth-methods'], 'fed');

    // The account was made for the email UserInfo gave (the ID token carried none).
    const login = await gatehouse.request('/v1/me/providers',
      { jar, headers: { 'User-Agent': USER_AGENT } });
    assert.equal(login.status, 200, login.text);
    assert.deepEqual(login.json.providers.map((p) => p.provider), ['certified']);
  });

  test('the same person signs in to the same account again', async () => {
    const first = await browse('ada');
    const second = await browse('ada');
    const who = async ({ jar }) => (await gatehouse.request('/v1/auth/verify',
      { jar, headers: { 'User-Agent': USER_AGENT } })).headers['x-auth-user'];
    assert.equal(await who(first), await who(second));
  });

  test('an email the provider has not verified makes no account', async () => {
    const { answer, jar } = await browse('eve');
    assert.equal(answer.status, 403, answer.text);
    assert.match(answer.json.detail, /verified email/);
    assert.ok(!jar.has('__Host-gh_session'));
  });
});
