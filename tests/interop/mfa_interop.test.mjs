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
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import * as OTPAuth from 'otpauth';

const BINARY = process.env.GATEHOUSE_BINARY;
const USER_AGENT = 'gatehouse-mfa-interop/1';
const PASSWORD = 'Interop-Mfa-9!pass';
const START_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 5000;

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function writeSecret(file, content) {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function prepare(port, totp) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-mfa-interop-'));
  const masterKeyFile = path.join(dir, 'master.key');
  writeSecret(masterKeyFile, `v1:${randomBytes(32).toString('base64')}\n`);
  const hmacFile = path.join(dir, 'token-hmac.key');
  writeSecret(hmacFile, `${randomBytes(48).toString('base64')}\n`);
  const certFile = path.join(dir, 'cert.pem');
  const tlsKeyFile = path.join(dir, 'tls-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', tlsKeyFile, '-out', certFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  chmodSync(tlsKeyFile, 0o600);
  const configFile = path.join(dir, 'gatehouse.toml');
  writeFileSync(configFile, `profile = "development"

[server]
listen = "127.0.0.1"
port = ${port}
cert_file = "${certFile}"
key_file = "${tlsKeyFile}"
io_threads = 1
worker_threads = 2
drain_timeout_ms = 1000

[log]
level = "warn"
access_log = "off"

[crypto]
master_key_file = "${masterKeyFile}"
argon2_memory_kib = 8192
argon2_iterations = 1

[tokens]
hmac_secret_file = "${hmacFile}"

[store]
sqlite_path = "${path.join(dir, 'gatehouse.db')}"

[mfa]
issuer = "Interop Test"
totp_algorithm = "${totp.algorithm}"
totp_digits = ${totp.digits}
totp_period_s = ${totp.period}
`);
  return { dir, port, configFile, ca: readFileSync(certFile) };
}

function request(server, method, urlPath, { token, body } = {}) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: server.port,
      method,
      path: urlPath,
      ca: server.ca,
      agent: false,
      timeout: 5000,
      headers: {
        'User-Agent': USER_AGENT,
        ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
        ...(payload === undefined ? {} : {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(payload),
        }),
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function start(totp) {
  assert.ok(BINARY, 'set GATEHOUSE_BINARY to the gatehouse executable');
  const server = prepare(await freePort(), totp);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('GATEHOUSE_')));
  const child = spawn(BINARY, ['serve', '--config', server.configFile],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  server.child = child;
  server.output = '';
  const keep = (chunk) => {
    server.output = (server.output + chunk.toString('utf8')).slice(-16384);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  server.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const res = await request(server, 'GET', '/healthz');
      if (res.status === 200) return server;
      lastError = new Error(`/healthz answered ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop(server);
  throw new Error(`gatehouse did not become healthy: ${lastError?.message}\n${server.output}`);
}

async function stop(server) {
  const { child } = server;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
  });
  const status = await Promise.race([server.exited, timedOut]);
  clearTimeout(timer);
  if (status === null) {
    child.kill('SIGKILL');
    await server.exited;
  }
  rmSync(server.dir, { recursive: true, force: true });
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
      if (server) await stop(server);
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
