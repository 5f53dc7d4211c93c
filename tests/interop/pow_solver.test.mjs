// The browser proof-of-work solver (web/assets/pow.js) checked against Gatehouse's own.
//
// The vector below was issued by protect::PowCaptcha at difficulty 12 and solved by
// protect::SolvePow; tests/unit/protect_pow_captcha_test.cc checks the same pair on the C++
// side. Both solvers return the smallest counter, so they must agree exactly. pow.js runs
// here as an ES module on Node's Web Crypto (globalThis.crypto.subtle), the API it uses in
// browsers. Needs no server and no npm packages.
//
// Run: node --test tests/interop/pow_solver.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { attachForms, challengeDifficulty, leadingZeroBits, solve } from '../../web/assets/pow.js';

const CHALLENGE =
  'AYdGPEOn5OJze65ucosaSfEAAAGLz-VoAAAAAYvP6fvgDPkBtxYfrk3I9xYp3-RYGH-BJmILlwRv3TUsOrVC5mhCQnYPhT' +
  'Cb75sdZWh92GNFAA';
const SOLUTION = '168';

function workBits(challenge, counter) {
  return leadingZeroBits(createHash('sha256').update(`${challenge}:${counter}`).digest());
}

test('reads the difficulty from the challenge', () => {
  assert.equal(challengeDifficulty(CHALLENGE), 12);
});

test('finds the same smallest solution as the C++ solver', async () => {
  assert.equal(await solve(CHALLENGE), SOLUTION);
  // Independently of pow.js's own check: the answer has the work, and nothing smaller does.
  assert.ok(workBits(CHALLENGE, SOLUTION) >= 12);
  for (let c = 0; c < Number(SOLUTION); c++) assert.ok(workBits(CHALLENGE, c) < 12, `counter ${c}`);
});

test('counts leading zero bits', () => {
  assert.equal(leadingZeroBits(new Uint8Array(32)), 256);
  assert.equal(leadingZeroBits(new Uint8Array([0x80, 0])), 0);
  assert.equal(leadingZeroBits(new Uint8Array([0x01, 0])), 7);
  assert.equal(leadingZeroBits(new Uint8Array([0, 0x10])), 11);
  assert.equal(leadingZeroBits(new Uint8Array([0, 0, 0xff]).buffer), 16);
});

test('refuses what is not a challenge', async () => {
  const version2 = 'Ag' + CHALLENGE.slice(2);
  // Byte 33 (the difficulty) is character 44 and the top of 45: "AA" there makes it 0.
  const easy = CHALLENGE.slice(0, 44) + 'AA' + CHALLENGE.slice(46);
  for (const bad of ['', CHALLENGE.slice(1), CHALLENGE + 'A', CHALLENGE.replace(/.$/, '='),
    version2, easy, 42, null]) {
    assert.throws(() => challengeDifficulty(bad));
    await assert.rejects(solve(bad));
  }
});

test('stops when aborted', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(solve(CHALLENGE, { signal: controller.signal }), /aborted/);
});

// A stand-in for the few DOM calls attachForms makes.
function fakeForm(challenge) {
  const form = {
    dataset: { powChallenge: challenge },
    inputs: [],
    listeners: [],
    attributes: new Map(),
    submitted: [],
    querySelector(selector) {
      return this.inputs.find((i) => selector === `input[name="${i.name}"]`) ?? null;
    },
    ownerDocument: { createElement: () => ({}) },
    appendChild(input) { this.inputs.push(input); },
    addEventListener(type, listener) { if (type === 'submit') this.listeners.push(listener); },
    setAttribute(name, value) { this.attributes.set(name, value); },
    removeAttribute(name) { this.attributes.delete(name); },
    requestSubmit(submitter) { this.submitted.push(submitter); this.submit({ submitter }); },
    submit(init = {}) {
      const event = { submitter: init.submitter, prevented: false,
        preventDefault() { this.prevented = true; } };
      for (const listener of this.listeners) listener(event);
      return event;
    },
  };
  return form;
}

test('attachForms holds an early submit and sends it once with the answer', async () => {
  const form = fakeForm(CHALLENGE);
  const root = { querySelectorAll: (s) => (s === 'form[data-pow-challenge]' ? [form] : []) };
  assert.equal(attachForms(root), 1);

  const button = { name: 'go' };
  assert.equal(form.submit({ submitter: button }).prevented, true);
  assert.equal(form.submit({ submitter: button }).prevented, true); // A second click.
  assert.equal(form.attributes.get('aria-busy'), 'true');

  while (form.submitted.length === 0) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(form.submitted, [button]);
  assert.equal(form.attributes.has('aria-busy'), false);
  const fields = Object.fromEntries(form.inputs.map((i) => [i.name, [i.type, i.value]]));
  assert.deepEqual(fields, {
    pow_challenge: ['hidden', CHALLENGE],
    pow_solution: ['hidden', SOLUTION],
  });
  // Once solved, a submit goes straight through.
  assert.equal(form.submit().prevented, false);
});
