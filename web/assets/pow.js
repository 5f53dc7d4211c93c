// Gatehouse proof-of-work solver (see docs/captcha.md).
//
// Finds the smallest decimal counter c such that SHA-256(challenge + ":" + c) starts with
// `difficulty` zero bits, where the difficulty is byte 33 of the base64url-decoded challenge.
// Uses only Web Crypto (globalThis.crypto.subtle), so the same file runs in browsers and as an
// ES module in Node.js 20+. No dependencies.
//
// In a page (the Content-Security-Policy `default-src 'self'` forbids inline scripts, so the
// page declares what to solve and this module does the rest):
//
//   <form method="post" data-pow-challenge="AYdG...">
//     ... <button>Sign in</button>
//   </form>
//   <script type="module" src="/assets/pow.js"></script>
//
// Solving starts as soon as the page loads. On submit, the form waits for the answer and is
// sent with two extra fields, `pow_challenge` and `pow_solution`. Elsewhere:
//
//   import { solve } from './pow.js';
//   const solution = await solve(challengeText);

const CHALLENGE_LENGTH = 110; // base64url characters of the 82-byte challenge.
const VERSION = 1;
const OFFSET_DIFFICULTY = 33;
const MIN_DIFFICULTY = 8;
const MAX_DIFFICULTY = 32;
// Digests requested at once. Each Web Crypto call is a promise; batching keeps the engine busy
// instead of paying a round trip through the event loop per hash.
const BATCH = 512;

// The difficulty in bits carried by a challenge; throws on anything that is not a version-1
// challenge within the bounds the server enforces.
export function challengeDifficulty(challenge) {
  if (typeof challenge !== 'string' || challenge.length !== CHALLENGE_LENGTH ||
      !/^[A-Za-z0-9_-]+$/.test(challenge)) {
    throw new Error('not a proof-of-work challenge');
  }
  const binary = atob(challenge.replace(/-/g, '+').replace(/_/g, '/') + '==');
  if (binary.charCodeAt(0) !== VERSION) throw new Error('unsupported challenge version');
  const difficulty = binary.charCodeAt(OFFSET_DIFFICULTY);
  if (difficulty < MIN_DIFFICULTY || difficulty > MAX_DIFFICULTY) {
    throw new Error('unsupported difficulty');
  }
  return difficulty;
}

// Leading zero bits of a digest (ArrayBuffer or Uint8Array).
export function leadingZeroBits(digest) {
  const bytes = digest instanceof Uint8Array ? digest : new Uint8Array(digest);
  let bits = 0;
  for (const byte of bytes) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}

// Resolves to the solution (a decimal string). Options: `signal` (an AbortSignal) stops the
// search; `onProgress(hashesTried)` is called after each batch.
export async function solve(challenge, { signal, onProgress } = {}) {
  const difficulty = challengeDifficulty(challenge);
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) throw new Error('Web Crypto is not available (a secure context is required)');
  const encoder = new TextEncoder();
  const prefix = challenge + ':';

  for (let base = 0; base < Number.MAX_SAFE_INTEGER; base += BATCH) {
    if (signal && signal.aborted) throw new Error('proof-of-work aborted');
    const digests = [];
    for (let i = 0; i < BATCH; i++) {
      digests.push(subtle.digest('SHA-256', encoder.encode(prefix + (base + i))));
    }
    const results = await Promise.all(digests);
    // In counter order, so the answer is the smallest, as the server's own solver finds it.
    for (let i = 0; i < BATCH; i++) {
      if (leadingZeroBits(results[i]) >= difficulty) return String(base + i);
    }
    if (onProgress) onProgress(base + BATCH);
  }
  throw new Error('no proof-of-work solution found');
}

// Wires every form carrying data-pow-challenge under `root` (see the top of this file).
// Returns the number of forms wired.
export function attachForms(root) {
  const forms = root.querySelectorAll('form[data-pow-challenge]');
  for (const form of forms) {
    const challenge = form.dataset.powChallenge;
    let ready = false;
    let held = false;
    // Settles either way: a failed solve sends the form without an answer, and the server
    // then refuses it and shows a new challenge.
    const answer = solve(challenge)
      .then((solution) => {
        setField(form, 'pow_challenge', challenge);
        setField(form, 'pow_solution', solution);
      })
      .catch(() => {})
      .then(() => { ready = true; });
    form.addEventListener('submit', (event) => {
      if (ready) return;
      // Not solved yet: hold the submission and send it, with the same button, once settled.
      // Further clicks meanwhile are swallowed, so the form is sent once.
      event.preventDefault();
      if (held) return;
      held = true;
      form.setAttribute('aria-busy', 'true');
      answer.then(() => {
        form.removeAttribute('aria-busy');
        if (event.submitter) form.requestSubmit(event.submitter);
        else form.requestSubmit();
      });
    });
  }
  return forms.length;
}

function setField(form, name, value) {
  let input = form.querySelector(`input[name="${name}"]`);
  if (!input) {
    input = form.ownerDocument.createElement('input');
    input.type = 'hidden';
    input.name = name;
    form.appendChild(input);
  }
  input.value = value;
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => attachForms(document));
  } else {
    attachForms(document);
  }
}
