// The state: one object, changed only by update(); affected() says what to redraw.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {ColbertViz, payload} = require('./helpers.js');

const {initialState, update, affected} = ColbertViz;

test('a payload opens on its best document at the native size, exact', () => {
  const p = payload(), order = p.rankings['128'].order;
  assert.deepEqual(initialState(p, null, true), {dim: 128, storage: 'float32', doc: order[0], a: order[0], b: order[1],
    hideExpansion: false, hideSpecial: false, merge: false, raw: false, start: 0});
});

test('an initial state keeps what the payload can show and drops the rest', () => {
  const p = payload();
  const s = initialState(p, {dim: 64, doc: 2, a: 7, storage: 'pool-2', merge: true, hideSpecial: 'yes'}, true);
  assert.equal(s.dim, 64); assert.equal(s.doc, 2); assert.equal(s.storage, 'pool-2'); assert.equal(s.merge, true);
  assert.equal(s.a, p.rankings['128'].order[0]);  // no document 7
  assert.equal(s.hideSpecial, false);
  assert.equal(initialState(p, {storage: 'int8'}, true).storage, 'float32');  // not among storage_methods
  assert.equal(initialState(p, {storage: 'pool-2'}, false).storage, 'float32');  // nothing to show it with
});

test('update returns a new state and leaves the old one alone', () => {
  const before = Object.freeze(initialState(payload(), null, true));
  const after = update(before, {dim: 64});
  assert.equal(after.dim, 64); assert.equal(before.dim, 128);
});

test('a new document, axis or hidden specials start the raw window over; a new dimension does not', () => {
  const s = update(initialState(payload(), null, true), {raw: true, start: 40});
  for (const change of [{doc: 2}, {merge: true}, {hideSpecial: true}]) {
    const next = update(s, change);
    assert.equal(next.raw, false); assert.equal(next.start, 0);
  }
  assert.deepEqual([update(s, {dim: 64}).raw, update(s, {dim: 64}).start], [true, 40]);
  assert.deepEqual([update(s, {doc: 2, start: 5, raw: true}).raw, update(s, {doc: 2, start: 5}).start], [true, 5]);
});

test('affected names the views a change redraws', () => {
  const s = initialState(payload(), null, true);
  assert.deepEqual(affected(s, update(s, {dim: 64})), ['all']);
  assert.deepEqual(affected(s, update(s, {storage: 'pool-2'})), ['all']);
  assert.deepEqual(affected(s, update(s, {doc: 2})), ['document', 'rankingSelection']);
  assert.deepEqual(affected(s, update(s, {a: 2})), ['pair']);
  assert.deepEqual(affected(s, update(s, {merge: true})), ['document', 'pair']);
  assert.deepEqual(affected(s, update(s, {hideExpansion: true})), ['document']);
  assert.deepEqual(affected(s, update(s, {})), []);
});
