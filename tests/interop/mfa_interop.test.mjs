// Gatehouse's TOTP enrolment checked by independent implementations:
//   - `zbarimg` (Debian's zbar-tools) decodes the PNG QR code to exactly the otpauth URI;
//   - the `otpauth` npm package parses that URI and computes a code Gatehouse accepts to
//     confirm the enrolment;
//   - `oathtool` (Debian's liboath command line, a separate program from the library in the
//     server) computes, from the secret in the URI, the code that completes a login.
// Run for the defaults (SHA1, 6 digits, 30 s) and for SHA256 with 8 digits and 60 s, so the
// URI's parameters are shown to be honoured by both sides, not just the common defaults.
//
// Run: GATEHOUSE_BINARY=build/gatehouse node --test tests/interop/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import * as OTPAuth from 'otpauth';

import { startGatehouse } from './support/gatehouse.mjs';

const USER_AGENT = 'gatehouse-mfa-interop/1';
const PASSWORD = 'Interop-Mfa-9!pass';

// One request with the same User-Agent every time (sessions are bound to the device).
function request(server, method, urlPath, { token, body } = {}) {
  return server.request(urlPath, {
    method,
    body,
    headers: {
      'User-Agent': USER_AGENT,
      ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
    },
  });
}

function start(totp) {
  return startGatehouse('mfa-interop', {
    toml: `
[mfa]
issuer = "Interop Test"
totp_algorithm = "${totp.algorithm}"
totp_digits = ${totp.digits}
totp_period_s = ${totp.period}
`,
  });
}

function claims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

const CONFIGS = [
  { algorithm: 'SHA1', digits: 6, period: 30 },
  { algorithm: 'SHA256', digits: 8, period: 60 },
];

for (const totp of CONFIGS) {
  describe(`TOTP interop (${totp.algorithm}, ${totp.digits} digits, ${totp.period} s)`, () => {
    let server;
    const email = `interop-${randomBytes(4).toString('hex')}@example.org`;
    let accessToken;
    let enrolment;

    before(async () => {
      server = await start(totp);
      const registered = await request(server, 'POST', '/v1/auth/register',
        { body: { email, password: PASSWORD } });
      assert.equal(registered.status, 201, registered.text);
      const login = await request(server, 'POST', '/v1/auth/login',
        { body: { email, password: PASSWORD } });
      assert.equal(login.status, 200, login.text);
      accessToken = login.json.access_token;
      const enrolled = await request(server, 'POST', '/v1/me/mfa/totp',
        { token: accessToken, body: {} });
      assert.equal(enrolled.status, 201, enrolled.text);
      enrolment = enrolled.json;
    });

    after(async () => {
      if (server) await server.stop();
    });

    test('zbarimg decodes the PNG QR code to exactly the enrolment URI', () => {
      const file = path.join(server.dir, 'enrolment.png');
      writeFileSync(file, Buffer.from(enrolment.qr_png, 'base64'));
      // zbar complains on stderr about a missing D-Bus; only its stdout matters.
      const decoded = execFileSync('zbarimg', ['--raw', '-q', file],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(decoded.replace(/\n$/, ''), enrolment.otpauth_uri);
    });

    test('otpauth reads the URI as Gatehouse meant it', () => {
      const parsed = OTPAuth.URI.parse(enrolment.otpauth_uri);
      assert.ok(parsed instanceof OTPAuth.TOTP);
      assert.equal(parsed.issuer, 'Interop Test');
      assert.equal(parsed.label, email);
      assert.equal(parsed.algorithm, totp.algorithm);
      assert.equal(parsed.digits, totp.digits);
      assert.equal(parsed.period, totp.period);
      assert.equal(parsed.secret.base32, enrolment.secret);
      assert.equal(parsed.secret.bytes.length, 20, '160-bit secret');
    });

    test('a code from otpauth confirms, a code from oathtool signs in', async () => {
      const app = OTPAuth.URI.parse(enrolment.otpauth_uri);
      const confirmed = await request(server, 'POST', '/v1/me/mfa/totp/confirm',
        { token: accessToken, body: { code: app.generate() } });
      assert.equal(confirmed.status, 200, confirmed.text);
      assert.equal(confirmed.json.backup_codes.length, 10);

      const login = await request(server, 'POST', '/v1/auth/login',
        { body: { email, password: PASSWORD } });
      assert.equal(login.status, 200, login.text);
      assert.equal(login.json.mfa_required, true);
      assert.equal(login.json.access_token, undefined);

      // The next step's code: the current step was spent by the confirmation, and the
      // server accepts one step ahead.
      // oathtool gets everything from the URI alone, as an app scanning the QR code would.
      const uri = new URL(enrolment.otpauth_uri);
      const next = Math.floor(Date.now() / 1000) + totp.period;
      const code = execFileSync('oathtool', [`--totp=${uri.searchParams.get('algorithm')}`,
        `--digits=${uri.searchParams.get('digits')}`,
        `--time-step-size=${uri.searchParams.get('period')}s`, '--base32', `--now=@${next}`,
        uri.searchParams.get('secret')], { encoding: 'utf8' }).trim();
      assert.equal(code.length, totp.digits);
      // otpauth agrees with oathtool on that code.
      assert.equal(app.generate({ timestamp: next * 1000 }), code);

      const verified = await request(server, 'POST', '/v1/auth/mfa/verify',
        { body: { ticket: login.json.ticket, code } });
      assert.equal(verified.status, 200, verified.text);
      assert.deepEqual(claims(verified.json.access_token).amr, ['pwd', 'otp', 'mfa']);

      // The same code again, on a fresh ticket, is a replay.
      const again = await request(server, 'POST', '/v1/auth/login',
        { body: { email, password: PASSWORD } });
      const replay = await request(server, 'POST', '/v1/auth/mfa/verify',
        { body: { ticket: again.json.ticket, code } });
      assert.equal(replay.status, 401, replay.text);
    });
  });
}
