// What the interop suites share: a real `gatehouse serve` (path in GATEHOUSE_BINARY) in its
// own temporary directory with fresh keys and a self-signed certificate, an HTTPS client
// that trusts only that certificate and keeps cookies like a browser, and certificates for
// the peers the suites start.
//
// Not a test file: node --test runs *.test.mjs only.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const START_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 5000;

// Servers still running when the process leaves (a crash, the runner's timeout) are ended so
// that none outlives the test.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export function writeSecret(file, content) {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function tempDir(name) {
  return mkdtempSync(path.join(os.tmpdir(), `gatehouse-${name}-`));
}

// A self-signed P-256 certificate for localhost and 127.0.0.1 in `dir`: { certFile, keyFile,
// cert, pin } where pin is curl's "sha256//<base64 of the SPKI's SHA-256>".
export function makeCertificate(dir, name) {
  const certFile = path.join(dir, `${name}-cert.pem`);
  const keyFile = path.join(dir, `${name}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  chmodSync(keyFile, 0o600);
  const spki = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-outform', 'DER']);
  const digest = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: spki });
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    pin: `sha256//${digest.toString('base64')}`,
  };
}

// One HTTPS request that follows no redirect (POST when there is a body, else GET, unless
// `method` says otherwise). `jar` (a Map name -> value), when given, sends
// its cookies and takes those the answer sets, as a browser does for this one origin.
export function httpsRequest(url, { method, headers = {}, body, ca, jar, form } = {}) {
  const target = new URL(url);
  const verb = method ?? (body !== undefined || form !== undefined ? 'POST' : 'GET');
  let payload;
  const extra = {};
  if (form !== undefined) {
    payload = new URLSearchParams(form).toString();
    extra['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    extra['Content-Type'] = 'application/json';
  }
  if (payload !== undefined) extra['Content-Length'] = Buffer.byteLength(payload);
  if (jar && jar.size > 0) {
    extra.Cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: target.hostname,
      port: target.port,
      method: verb,
      path: `${target.pathname}${target.search}`,
      ca,
      agent: false,
      timeout: 10000,
      headers: { ...extra, ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const cookies = [].concat(res.headers['set-cookie'] ?? []);
        if (jar) {
          for (const line of cookies) {
            const [pair, ...attributes] = line.split(';');
            const eq = pair.indexOf('=');
            const name = pair.slice(0, eq).trim();
            const value = pair.slice(eq + 1).trim();
            const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
            if (expired || value === '') jar.delete(name); else jar.set(name, value);
          }
        }
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json, cookies });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${verb} ${url} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

// Starts `gatehouse serve` on a free port. `toml` is appended to a development configuration
// that has TLS, fresh keys, SQLite and quick password hashing; `prepare(dir, port)` may write
// files the extra configuration names and return more TOML; `tokens(dir)` may write token
// keys and return the body of [tokens] (default: a fresh HS256 secret). Returns the server:
// { url, port, ca, dir, output(), events(), request(path, options), stop() }; stop() sends
// SIGTERM (SIGKILL after 5 s), returns how the process ended, and may be called again.
export async function startGatehouse(name, { toml = '', prepare, tokens } = {}) {
  const binary = process.env.GATEHOUSE_BINARY;
  assert.ok(binary, 'set GATEHOUSE_BINARY to the gatehouse executable');
  const port = await freePort();
  const dir = tempDir(name);
  const masterKeyFile = path.join(dir, 'master.key');
  writeSecret(masterKeyFile, `v1:${randomBytes(32).toString('base64')}\n`);
  let tokenToml;
  if (tokens) {
    tokenToml = await tokens(dir);
  } else {
    const hmacFile = path.join(dir, 'token-hmac.key');
    writeSecret(hmacFile, `${randomBytes(48).toString('base64')}\n`);
    tokenToml = `hmac_secret_file = "${hmacFile}"`;
  }
  const tls = makeCertificate(dir, 'gatehouse');
  const extra = prepare ? await prepare(dir, port) : '';
  const configFile = path.join(dir, 'gatehouse.toml');
  writeFileSync(configFile, `profile = "development"

[server]
listen = "127.0.0.1"
port = ${port}
cert_file = "${tls.certFile}"
key_file = "${tls.keyFile}"
redirect_port = 0
io_threads = 1
worker_threads = 2
drain_timeout_ms = 1000

[log]
level = "info"
access_log = "off"
app_log = "stderr"

[crypto]
master_key_file = "${masterKeyFile}"
argon2_memory_kib = 8192
argon2_iterations = 1

[tokens]
${tokenToml}

[store]
driver = "sqlite"
sqlite_path = "${path.join(dir, 'gatehouse.db')}"
${toml}
${extra ?? ''}
`);

  // GATEHOUSE_* variables are configuration: a developer's shell must not change the test.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('GATEHOUSE_')));
  const child = spawn(binary, ['serve', '--config', configFile],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString('utf8')).slice(-262144);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });

  let stopped;
  const server = {
    url: `https://127.0.0.1:${port}`,
    port,
    ca: tls.cert,
    dir,
    output: () => output,
    // The security events the server logged so far, parsed.
    events: () => output.split('\n').filter((line) => line.includes('"security_event"'))
      .map((line) => JSON.parse(line)),
    request: (urlPath, options = {}) =>
      httpsRequest(`https://127.0.0.1:${port}${urlPath}`, { ca: tls.cert, ...options }),
    stop: async () => {
      if (stopped) return stopped;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      let timer;
      const timedOut = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      });
      let status = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (status === null) {
        child.kill('SIGKILL');
        status = { ...(await exited), killed: true };
      }
      rmSync(dir, { recursive: true, force: true });
      stopped = status;
      return status;
    },
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      const res = await server.request('/healthz');
      if (res.status === 200) return server;
      lastError = new Error(`/healthz answered ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const status = await server.stop();
  throw new Error(`gatehouse (${name}) did not become healthy: ${lastError?.message}; ` +
    `it ended with ${JSON.stringify(status)}\nserver output:\n${output}`);
}
