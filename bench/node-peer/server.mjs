// The Node.js peer of bench/run.sh: forward auth the way a typical Node service does it
// (fastify with the rate-limit and helmet plugins, jose for the JWT), so Gatehouse's
// /v1/auth/verify has a like-for-like neighbour in the table.
//
// It checks what a stateless verifier checks: the signature, `iss`, `aud` and `exp` (with
// Gatehouse's default leeway of 30 s). It does not look up a session or a deny list, which
// Gatehouse does on every verification, so the comparison favours this peer.
//
//   node server.mjs --port N --alg HS256 --key hmac-secret-file [--cert PEM --tls-key PEM]
//   node server.mjs --port N --alg EdDSA --key jwks.json      [--cert PEM --tls-key PEM]
//
// The HS256 secret file is read like Gatehouse reads it (one trailing newline stripped);
// the EdDSA key is the first Ed25519 key of a JWKS saved from /.well-known/jwks.json. The
// key is imported once at start, never per request.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify from 'fastify';
import { importJWK, jwtVerify } from 'jose';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    alg: { type: 'string' },
    key: { type: 'string' },
    cert: { type: 'string' },
    'tls-key': { type: 'string' },
    issuer: { type: 'string', default: 'gatehouse' },
    audience: { type: 'string', default: 'gatehouse' },
  },
});

async function loadKey(alg, file) {
  if (alg === 'HS256') {
    let secret = readFileSync(file, 'utf8');
    if (secret.endsWith('\n')) secret = secret.slice(0, -1);
    if (secret.endsWith('\r')) secret = secret.slice(0, -1);
    return new TextEncoder().encode(secret);
  }
  if (alg === 'EdDSA') {
    const jwks = JSON.parse(readFileSync(file, 'utf8'));
    const jwk = jwks.keys.find((k) => k.kty === 'OKP' && k.crv === 'Ed25519');
    if (!jwk) throw new Error(`${file}: no Ed25519 key`);
    return importJWK(jwk, 'EdDSA');
  }
  throw new Error(`unsupported --alg ${alg}`);
}

const key = await loadKey(args.alg, args.key);
const verifyOptions = {
  algorithms: [args.alg],
  issuer: args.issuer,
  audience: args.audience,
  requiredClaims: ['exp', 'sub'],
  clockTolerance: 30,
};

const https = args.cert
  ? { cert: readFileSync(args.cert), key: readFileSync(args['tls-key']) }
  : null;
const app = Fastify({ logger: false, https });
await app.register(helmet);
// Present and counting, as in production, but with a limit no bench run can reach.
await app.register(rateLimit, { max: 1_000_000_000, timeWindow: '1 minute' });

app.get('/v1/auth/verify', async (request, reply) => {
  const header = request.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) return reply.code(401).send();
  try {
    const { payload } = await jwtVerify(header.slice(7), key, verifyOptions);
    return reply.code(200).header('X-Auth-User', payload.sub).send();
  } catch {
    return reply.code(401).send();
  }
});

await app.listen({ host: '127.0.0.1', port: Number(args.port) });
