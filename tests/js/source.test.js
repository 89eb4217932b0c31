// The data source: what a payload left out is fetched through the options' functions and kept in the
// source's own map; the payload is never written to (it is frozen here: a write would throw).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {ColbertViz, payload} = require('./helpers.js');

const {DataSource, initialState, update, views: V} = ColbertViz;

/** The fixture as a large Run's page gets it: the first document's exact views only, no storage views. */
function lazy() {
  const full = payload(), first = full.rankings['128'].order[0];
  const p = Object.freeze(Object.assign({}, full, {views: Object.freeze({[first]: full.views[String(first)]}),
    complete: false, storage: undefined, stored_views: undefined}));
  return {full, p, first};
}

test('missing lists the storage summary first, then each document view not here', () => {
  const {p, first} = lazy();
  const source = new DataSource(p, {fetchDocument: () => null, fetchStorage: () => null});
  const s = initialState(p, null, true), other = (first + 1) % 3;
  assert.deepEqual(source.missing(s, [first]), []);
  assert.deepEqual(source.missing(s, [first, other]), [{what: 'document', index: other, method: 'float32'}]);
  assert.deepEqual(source.missing(update(s, {storage: 'pool-2'}), [first]), [{what: 'storage'}]);
});

test('fetched views are kept by the source, not written into the payload', async () => {
  const {full, p, first} = lazy();
  const asked = [];
  const source = new DataSource(p, {
    fetchDocument: (i, method) => { asked.push([i, method]); return method === 'float32' ? full.views[String(i)]
      : full.stored_views[method][String(i)]; },
    fetchStorage: () => { asked.push(['storage']); return full.storage; }});
  let arrived = 0;
  source.onArrive = () => { arrived++; };
  const s = update(initialState(p, null, true), {storage: 'pool-2'}), other = (first + 1) % 3;
  assert.equal(source.request(source.missing(s, [other])), null);
  await Promise.all(source.pending.values());
  assert.equal(source.storage(), full.storage);
  const needs = source.missing(s, [other]);
  assert.deepEqual(needs, [{what: 'document', index: other, method: 'float32'},
    {what: 'document', index: other, method: 'pool-2'}]);
  source.request(needs);
  source.request(needs);  // asked once while on the way
  await Promise.all(source.pending.values());
  assert.deepEqual(asked, [['storage'], [other, 'float32'], [other, 'pool-2']]);
  assert.equal(arrived, 3);
  assert.deepEqual(source.missing(s, [other]), []);
  assert.deepEqual(Object.keys(p.views), [String(first)]);  // the payload as it came
  assert.equal(V.rankingTable(source, s).rows.length, p.top_n);
  source.request(source.missing(s, [first]));
  await Promise.all(source.pending.values());
  assert.deepEqual(asked.at(-1), [first, 'pool-2']);
  assert.equal(V.pairSpec(source, update(s, {a: other, b: first})).table.rows.length, p.query.axes.tokens.labels.length);
});

test('what cannot come says why: a file without the views, a failed fetch', async () => {
  const {p, first} = lazy();
  const s = initialState(p, null, true), other = (first + 1) % 3;
  assert.equal(new DataSource(p).request([{what: 'document', index: other, method: 'float32'}]),
    'These views are not in this file.');
  const failing = new DataSource(p, {fetchDocument: () => ({error: 'The Run has expired.'})});
  assert.equal(failing.request(failing.missing(s, [other])), null);
  await Promise.all(failing.pending.values());
  assert.equal(failing.request(failing.missing(s, [other])), 'The Run has expired.');
  const gone = new DataSource(p, {fetchStorage: () => ({error: 'The Run has expired.'})});
  gone.request([{what: 'storage'}]);
  await Promise.all(gone.pending.values());
  assert.equal(gone.request(gone.missing(update(s, {storage: 'pool-2'}), [])), 'The Run has expired.');
  assert.equal(V.storageTable(gone, s), null);
});

test('a method the Run cannot be stored under is unavailable, with why; the others are not', async () => {
  const {full, p} = lazy();
  const why = 'pool-2 is unavailable for this Run: token pooling handles at most 1,024 tokens per document, ' +
    'and document 3 has 6,405';
  const rankings = Object.fromEntries(Object.entries(full.storage.rankings).filter(([id]) => !id.endsWith('/pool-2')));
  const summary = Object.assign({}, full.storage, {unavailable: {'pool-2': why}, rankings,
    table: full.storage.table.filter(r => r.method !== 'pool-2')});
  const source = new DataSource(p, {fetchStorage: () => summary});
  source.request([{what: 'storage'}]);
  await Promise.all(source.pending.values());
  assert.equal(V.unavailable(source, 'pool-2'), why);
  assert.equal(V.unavailable(source, 'int8'), null);
  const s = initialState(p, null, true);
  const rows = V.storageTable(source, s).rows;
  assert.deepEqual(rows.filter(r => r.unavailable).map(r => [r.setting, r.cells.at(-1).text]), [['pool-2', why]]);
  assert.equal(rows.filter(r => !r.unavailable).length, full.storage.table.length - p.model.dimensions.length);
  assert.equal(V.rankingTable(source, update(s, {storage: 'int8', dim: 64})).rows.length, p.top_n);
});

const tick = ms => new Promise(resolve => setTimeout(resolve, ms));

test('a busy answer or a failed call is asked again after a delay that doubles, by itself a bounded number of times',
  async () => {
    const {full, p, first} = lazy();
    const s = initialState(p, null, true), other = (first + 1) % 3, need = {what: 'document', index: other, method: 'float32'};
    const answers = [() => ({error: 'The server is busy.', retry: true}), () => Promise.reject(new Error('Connection lost.')),
      () => full.views[String(other)]];
    let asked = 0;
    const source = new DataSource(p, {retryMs: 40, fetchDocument: () => answers[asked++]()});
    const due = [];
    source.onArrive = n => due.push(n);
    assert.equal(source.request([need]), null);
    await Promise.all(source.pending.values());
    assert.equal(source.request([need]), 'The server is busy. (Trying again in 1 s.)');  // not asked before the delay
    assert.equal(asked, 1);
    await tick(60);  // the retry is due: the shell is told, and asking again fetches again
    assert.deepEqual(due, [need, need]);
    assert.equal(source.request([need]), null);
    await Promise.all(source.pending.values());
    assert.match(source.request([need]), /^Connection lost\./);
    assert.equal(asked, 2);
    await tick(100);  // twice the first delay
    assert.equal(source.request([need]), null);
    await Promise.all(source.pending.values());
    assert.equal(asked, 3);
    assert.deepEqual(source.missing(s, [other]), []);
    assert.equal(source.failed.size, 0);

    const busy = new DataSource(p, {retryMs: 1, fetchDocument: () => { asked++; return {error: 'Busy.', retry: true}; }});
    busy.onArrive = n => busy.request([n]);  // the shell redraws what waits for the views, which asks again
    asked = 0;
    busy.request([need]);
    await tick(400);
    assert.equal(asked, 1 + ColbertViz.RETRIES);  // no more by itself: only when the views are asked for again
    assert.equal(busy.request([need]), null);
    await Promise.all(busy.pending.values());
    assert.equal(asked, 2 + ColbertViz.RETRIES);
  });

test('a final error is kept: asked for again, it is not fetched again', async () => {
  const {p, first} = lazy();
  const need = {what: 'document', index: (first + 1) % 3, method: 'float32'};
  let asked = 0;
  const source = new DataSource(p, {retryMs: 1, fetchDocument: () => { asked++; return {error: 'No document 2.'}; }});
  source.request([need]);
  await Promise.all(source.pending.values());
  await tick(20);
  assert.equal(source.request([need]), 'No document 2.');
  assert.equal(asked, 1);
});
