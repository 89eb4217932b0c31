// The state: one object, changed only by update(); affected() says what to redraw.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {ColbertViz, payload} = require('./helpers.js');

const {initialState, update, affected, arrived} = ColbertViz;

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

test('arrived names the views the answer to a fetch redraws: those that show what came, no others', () => {
  const s = initialState(payload(), null, true), elsewhere = [0, 1, 2].find(i => i !== s.a && i !== s.b);
  const views = (index, method) => ({what: 'document', index, method});
  assert.equal(s.doc, s.a);
  assert.deepEqual(arrived(s, views(s.doc, 'float32')), ['document', 'pair']);
  assert.deepEqual(arrived(s, views(s.b, 'float32')), ['pair']);
  assert.deepEqual(arrived(s, views(elsewhere, 'float32')), []);
  assert.deepEqual(arrived(s, views(s.doc, 'pool-2')), []);  // another storage setting's views
  assert.deepEqual(arrived(update(s, {doc: elsewhere}), views(elsewhere, 'float32')), ['document']);
  const pooled = update(s, {storage: 'pool-2'});
  assert.deepEqual(arrived(pooled, views(s.b, 'pool-2')), ['pair']);
  assert.deepEqual(arrived(pooled, views(s.b, 'float32')), ['pair']);  // the highlight reads the exact text
  assert.deepEqual(arrived(pooled, views(s.b, 'int8')), []);
  assert.deepEqual(arrived(s, {what: 'storage'}), ['storage']);  // the storage panel and the line beside the menu
  assert.deepEqual(arrived(pooled, {what: 'storage'}), ['all']);  // every ranking on screen is the setting's
});
