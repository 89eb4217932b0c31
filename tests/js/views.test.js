// The pure view builders on the shared payload fixture: what each view shows, computed from the payload alone.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {ColbertViz, floats, setup} = require('./helpers.js');

const V = ColbertViz.views;
const close = (a, b, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('the ranking table has the columns the payload names and the top n rows, best first', () => {
  const {p, source, state} = setup();
  const spec = V.rankingTable(source, state), r = p.rankings['128'];
  assert.deepEqual(spec.columns, r.columns.map(c => c.title));
  assert.deepEqual(spec.columns, ['Rank', 'Doc', 'Score', 'Per query token', 'Rank @64', 'Tokens', 'Preview']);
  assert.deepEqual(spec.rows.map(row => row.doc), r.order.slice(0, p.top_n));
  const [first] = spec.rows, i = first.doc;
  assert.deepEqual(first.cells.map(c => c.text), ['1', String(i + 1), r.scores[i].toFixed(2), r.per_token[i].toFixed(3),
    String(p.rankings['64'].ranks[i]), p.documents[i].tokens, p.documents[i].preview]);
  assert.equal(spec.note, `Showing the top ${p.top_n} of 3 documents (top n).`);
});

test('under a storage method the ranking adds the exact rank (with its move) and the stored bytes', () => {
  const {p, source, state} = setup({storage: 'binary+rescore', dim: 64});
  const spec = V.rankingTable(source, state), r = p.storage.rankings['64/binary+rescore'], exact = p.rankings['128'];
  assert.deepEqual(spec.columns, ['Rank', 'Doc', 'Score', 'Per query token', 'Rank @128', 'Exact rank', 'Stored bytes',
    'Tokens', 'Preview']);
  spec.rows.forEach((row, k) => {
    const i = row.doc, up = exact.ranks[i] - r.ranks[i];
    assert.equal(i, r.order[k]);
    assert.equal(row.cells[5].text, `${exact.ranks[i]}${up ? ` (${up > 0 ? '↑' : '↓'}${Math.abs(up)})` : ''}`);
    assert.equal(row.cells[6].text, Math.round(r.bytes_per_document[i]).toLocaleString('en') +
      (r.rescored.includes(i) ? ' · rescored' : ''));
  });
  assert.ok(r.rescored.length > 0);
});

test('the menus follow the ranking on screen', () => {
  const {p, source, state} = setup({dim: 64});
  assert.deepEqual(V.menuOptions(source, state).map(o => o.value), p.rankings['64'].order);
});

test('the dimension tables list each dimension\'s ranking and Kendall tau', () => {
  const {p, source, state} = setup();
  const spec = V.dimensionTables(source, state);
  assert.deepEqual(spec.ranks.columns, ['Rank', '128 dims', '64 dims']);
  const i = p.rankings['64'].order[0];
  assert.equal(spec.ranks.rows[0][2], `${p.documents[i].label} · ${p.rankings['64'].scores[i].toFixed(2)}`);
  assert.deepEqual(spec.tau.rows, p.tau.map(t => [`${t.a} vs ${t.b}`, t.tau === null ? '–' : t.tau.toFixed(3)]));
  const pooled = setup({storage: 'pool-2'}), stored = V.dimensionTables(pooled.source, pooled.state);
  assert.deepEqual(stored.tau.rows, p.storage.tau['pool-2'].map(t => [`${t.a} vs ${t.b}`, t.tau.toFixed(3)]));
  assert.notDeepEqual(stored.tau.rows, spec.tau.rows);  // this fixture's pool-2 reorders the dimensions' rankings
  const r = p.storage.rankings['64/pool-2'], i64 = r.order[0];
  assert.equal(stored.ranks.rows[0][2], `${p.documents[i64].label} · ${r.scores[i64].toFixed(2)}`);
});

test('the heatmap shows every similarity of the payload, less the hidden rows and columns', () => {
  const {p, source, state} = setup();
  const i = state.doc, view = p.views[String(i)].variants.tokens.dims['128'];
  const q = p.query.axes.tokens, d = p.views[String(i)].variants.tokens.axis;
  const sim = floats(view.similarity), n = d.labels.length;
  const spec = V.heatmapSpec(source, state, 900);
  const [heat] = spec.traces;
  assert.equal(heat.y.length, q.labels.length); assert.equal(heat.x.length, n);
  for (let r = 0; r < q.labels.length; r++) {
    for (let c = 0; c < n; c++) {
      const value = heat.z[r][c] ?? spec.traces.find(t => t.name === 'skipped').z[r][c];
      close(value, sim[r * n + c]);
    }
  }
  assert.deepEqual(spec.data, {columns: n, rows: q.labels.length,
    title: 'Similarity of every query token to every document token', score: view.score});
  const marks = spec.traces.find(t => t.name === 'best match');
  assert.deepEqual(marks.x, view.best_index.map(j => heat.x[j]));
  assert.deepEqual(spec.layout.yaxis.categoryarray, heat.y);
  assert.equal(spec.window, null);
  const hidden = V.heatmapSpec(source, ColbertViz.update(state, {hideExpansion: true, hideSpecial: true}), 900);
  const rows = q.kinds.map((k, r) => (k === 'text' ? r : -1)).filter(r => r >= 0);
  const cols = d.kinds.map((k, c) => (k !== 'special' && k !== 'marker' ? c : -1)).filter(c => c >= 0);
  assert.deepEqual([hidden.data.rows, hidden.data.columns], [rows.length, cols.length]);
  assert.deepEqual(hidden.traces[0].y, rows.map(r => heat.y[r]));
  rows.forEach((r, k) => cols.forEach((c, j) => {
    const value = hidden.traces[0].z[k][j] ?? hidden.traces.find(t => t.name === 'skipped').z[k][j];
    close(value, sim[r * n + c]);
  }));
});

test('a tap on a heatmap cell reads its similarity', () => {
  const {source, state} = setup();
  const spec = V.heatmapSpec(source, state, 900), [heat] = spec.traces;
  const col = heat.z[2].findIndex(v => v !== null);
  assert.match(V.cellText(spec.traces, 2, col), new RegExp(`similarity ${heat.z[2][col].toFixed(3)}$`));
  assert.equal(V.cellText(spec.traces, 99, 0), null);
});

test('the contributions add up to the score, with each query token\'s best match', () => {
  const {p, source, state} = setup({merge: true, dim: 64});
  const v = p.views[String(state.doc)].variants.words, view = v.dims['64'];
  const spec = V.contributionsSpec(source, state);
  assert.deepEqual(spec.traces[0].x, view.contributions);
  close(spec.traces[0].x.reduce((a, b) => a + b, 0), view.score, 1e-6);
  const plain = x => x.slice(1, -1).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');  // plotly text
  assert.deepEqual(spec.traces[0].customdata.map(plain), view.best_index.map(j => v.axis.labels[j]));
  assert.equal(spec.layout.title.text, `Contributions: total ${view.score.toFixed(2)} = the score`);
});

test('the highlight reads as the document text, each token shaded and the matches outlined', () => {
  const {p, source, state} = setup();
  for (const doc of [0, 1, 2]) {
    const s = ColbertViz.update(state, {doc}), spec = V.highlightSpec(source, s);
    const v = p.views[String(doc)].variants.tokens, view = v.dims['128'];
    const tokens = spec.pieces.filter(x => x.type === 'token');
    assert.deepEqual(tokens.map(x => x.position), v.axis.labels.map((_, k) => k));
    assert.equal(spec.pieces.filter(x => !x.chip).map(x => x.text).join(''),
      v.pieces.map(x => x.text).join(''));
    assert.deepEqual(tokens.filter(x => x.match).map(x => x.position), [...new Set(view.best_index)].sort((a, b) => a - b));
    assert.equal(spec.data.score, view.score.toFixed(4));
    assert.equal(spec.notes.some(n => n.startsWith('Truncated')), p.documents[doc].truncated);
  }
});

test('why A above B: the bars are A\'s contributions minus B\'s; the table names the query tokens', () => {
  const {p, source, state} = setup({a: 0, b: 2});
  const va = p.views['0'].variants.tokens.dims['128'], vb = p.views['2'].variants.tokens.dims['128'];
  const spec = V.pairSpec(source, state);
  spec.traces[0].x.forEach((x, k) => close(x, va.contributions[k] - vb.contributions[k]));
  close(spec.data.total, va.score - vb.score);
  assert.deepEqual(spec.table.rows.map(r => r[0]).sort(), [...p.query.axes.tokens.names].sort());
  assert.equal(V.pairSpec(source, ColbertViz.update(state, {b: 0})).note.startsWith('Document A and document B'), true);
});

test('the match changes and the storage decision table come from the payload as they are', () => {
  const {p, source, state} = setup({storage: 'pool-2', dim: 64});
  const changes = V.changesTable(source, state), mc = p.stored_views['pool-2'][String(state.doc)].match_changes;
  if (mc.rows.length) assert.deepEqual(changes.rows, mc.rows);
  else assert.match(changes.empty, /keeps its best match/);
  const table = V.storageTable(source, state);
  assert.deepEqual(table.rows.map(r => r.setting), p.storage.table.map(r => r.setting));
  assert.deepEqual(table.rows.filter(r => r.selected).map(r => r.setting), ['64/pool-2']);
  assert.match(V.storageInfo(source, state), /^64\/pool-2: /);
});

test('the scored query shows each token once, the expansion tokens as one "× n" chip, and the payload\'s note', () => {
  const {p} = setup();
  const spec = V.scoredQuery(p);
  assert.deepEqual(spec.chips.map(c => c.text), ['<s>', '[QueryMarker]', '▁population', '▁of', '▁Berlin', '</s>', '<mask> × 2']);
  assert.deepEqual(spec.chips.map(c => c.kind), ['special', 'marker', 'text', 'text', 'text', 'special', 'expansion']);
  assert.equal(spec.note, p.query.scored.note);
});

test('an axis title wraps to the plot area of a narrow chart, and the bottom margin grows by its lines', () => {
  const {source, state} = setup();
  const wide = V.wrapTitle(V.contributionsSpec(source, state).layout, 1400);
  assert.ok(!wide.xaxis.title.text.includes('<br>'));
  const plain = V.contributionsSpec(source, state).layout;
  const narrow = V.wrapTitle(V.contributionsSpec(source, state).layout, 360);
  const rows = narrow.xaxis.title.text.split('<br>');
  assert.ok(rows.length > 1, narrow.xaxis.title.text);
  assert.equal(rows.join(' '), plain.xaxis.title.text);  // the same words, only broken
  const room = 360 - narrow.margin.l - narrow.margin.r;
  assert.ok(rows.every(r => r.length * 7.5 <= room), `${rows} in ${room} px`);
  assert.equal(narrow.margin.b - plain.margin.b, 17 * (rows.length - 1));
});
