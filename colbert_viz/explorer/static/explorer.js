/* colbert-viz explorer: draws every view of a Run from one payload (colbert_viz/explorer/payload.py; every field is
 * documented in colbert_viz/explorer/schema.py).
 *
 * The same file runs in the Gradio page, in notebooks and in the exported standalone HTML, and in Node for
 * the tests of its pure parts (tests/js/, `node --test tests/js/`). It only selects, filters and draws: every
 * number comes from the payload. User text is put in the page with textContent / setAttribute (never
 * innerHTML), isolated for bidi, and escaped for plotly labels.
 *
 *   ColbertViz.mount(element, payload, {ids, fetchDocument, fetchStorage, onExport, initial}) -> explorer
 *   (initial: the state to open on, e.g. an exported view; what the payload cannot show is left out)
 *   explorer.set({dim, storage, doc, a, b, hideExpansion, hideSpecial, merge, raw, start})
 *
 * Four parts, in this order (the Elm architecture: view = f(state)):
 *   1. state    one object; update(state, changes) -> the next state; affected(before, after) -> what to redraw;
 *               arrived(state, need) -> what a fetch's answer redraws
 *   2. source   DataSource: the payload (never written to) and what it left out, fetched through the options'
 *               fetch functions and kept in the source's own map (a fetch that may succeed later is retried)
 *   3. views    pure builders: (source, state) -> plotly traces and layout, table rows, text; no DOM, no plotly
 *   4. shell    Explorer: builds the DOM once, turns events into state changes, hands the views' specs to the
 *               DOM and to plotly
 */
(function (global) {
  'use strict';

  const EXACT = 'float32';
  const KIND_COLORS = {text: '#2f6db5', special: '#8e5bb5', marker: '#8e5bb5', expansion: '#9aa4b1',
    skipped: '#bdbdbd', typed: '#c2410c'};
  const A_COLOR = '#1b9e77', B_COLOR = '#d95f02';
  const SKIPPED_SCALE = [[0, '#f1f1f1'], [1, '#8c8c8c']];
  const FONT = {family: 'Inter, system-ui, sans-serif', size: 12};
  const ROW_PX = 18, COLUMN_PX = 12, WIDE_FROM = 80;
  // Top margins: under a one-line title and subtitle (whose text plotly draws down to 77 px), and what each
  // further line adds (a title line moves the subtitle 36 px down; a subtitle line takes 16 px, given 19)
  const TITLE_TOP = 84, TITLE_LINE = 36, SUBTITLE_LINE = 19;
  const AXIS_CHAR = 7.5, AXIS_LINE = 17;  // an axis title's px per character and per line (plotly's 14 px font)
  const SPECIAL_KINDS = ['special', 'marker'];
  const RETRY_MS = 1000, RETRIES = 4;  // a fetch that may succeed later: retried after 1, 2, 4, 8 s, then when asked
  const ISOLATE = s => '\u2068' + s + '\u2069';  // FSI … PDI: bidi controls inside cannot leak out

  // ---- text helpers (pure) -------------------------------------------------------------

  /** Text for plotly labels, which read a little HTML: escape it, isolate it. */
  function plotlyText(s) {
    return ISOLATE(String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
  }

  const decoded = new WeakMap();
  /** A base64 little-endian float32 field → Float32Array (decoded once per holder and key, kept beside it). */
  function f32(holder, key) {
    let cache = decoded.get(holder);
    if (!cache) decoded.set(holder, cache = {});
    if (!(key in cache)) {
      const bin = atob(holder[key]);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      cache[key] = new Float32Array(bytes.buffer);
    }
    return cache[key];
  }

  const fixed = (x, n) => (x === null || x === undefined || Number.isNaN(x)) ? '–' : Number(x).toFixed(n);
  const signed = (x, n) => (x >= 0 ? '+' : '−') + Math.abs(x).toFixed(n);
  /** " (↑2)": a document two places higher than its exact rank; "" when it has not moved. */
  const moved = up => (up ? ` (${up > 0 ? '↑' : '↓'}${Math.abs(up)})` : '');
  const count = n => n.toLocaleString('en');

  function cut(label, max) { return label.length > max ? label.slice(0, max - 1) + '…' : label; }

  function tickLabel(label, kind) {
    const text = plotlyText(cut(label, 18));
    return kind === 'text' ? text : (kind === 'typed' ? `<b>${text}</b>` : `<span style="color:#8a8a8a"><i>${text}</i></span>`);
  }

  function shade(value, zrange) {
    const [lo, hi] = zrange;
    const t = hi <= lo ? 0 : Math.min(1, Math.max(0, (value - lo) / (hi - lo)));
    return `rgba(255,153,0,${(0.04 + 0.76 * t).toFixed(2)})`;
  }

  // ---- 1. state ------------------------------------------------------------------------

  /** The parts of a state (``initial``) this payload can show; ``storable``: storage views here or fetchable. */
  function showable(payload, s, storable) {
    const out = {};
    const isDoc = i => Number.isInteger(i) && i >= 0 && i < payload.documents.length;
    if (payload.model.dimensions.includes(s.dim)) out.dim = s.dim;
    if (s.storage === EXACT || (storable && (payload.storage_methods || []).includes(s.storage))) out.storage = s.storage;
    for (const k of ['doc', 'a', 'b']) if (isDoc(s[k])) out[k] = s[k];
    for (const k of ['hideExpansion', 'hideSpecial', 'merge']) if (typeof s[k] === 'boolean') out[k] = s[k];
    return out;
  }

  /** The state a payload opens on: the best document at the native size, exact, or what ``initial`` asks. */
  function initialState(payload, initial, storable) {
    const dims = payload.model.dimensions, order = payload.rankings[String(dims[0])].order;
    return Object.assign({dim: dims[0], storage: EXACT, doc: order[0], a: order[0],
      b: order[Math.min(1, order.length - 1)], hideExpansion: false, hideSpecial: false, merge: false, raw: false,
      start: 0}, showable(payload, initial || {}, storable));
  }

  /** The next state: ``changes`` applied; a new document or axis starts the raw window over. */
  function update(state, changes) {
    const next = Object.assign({}, state, changes);
    if (['doc', 'merge', 'hideSpecial'].some(k => state[k] !== next[k])) {
      if (!('raw' in changes)) next.raw = false;
      if (!('start' in changes)) next.start = 0;
    }
    return next;
  }

  /** What a change from ``before`` to ``after`` redraws: "all", "document", "pair", "rankingSelection". */
  function affected(before, after) {
    const changed = k => before[k] !== after[k], what = [];
    if (changed('dim') || changed('storage')) what.push('all');
    if (['doc', 'merge', 'hideExpansion', 'hideSpecial', 'raw', 'start'].some(changed)) what.push('document');
    if (['a', 'b', 'merge'].some(changed)) what.push('pair');
    if (changed('doc')) what.push('rankingSelection');
    return what;
  }

  /** What the answer to a fetch (``need``: a ``DataSource.missing`` item), or its failure, redraws under
   *  ``state``: everything for the storage summary of the setting on screen, else the storage panel; a document's
   *  views redraw the document and the pair they are shown in, and nothing where they are not shown. */
  function arrived(state, need) {
    if (need.what === 'storage') return state.storage !== EXACT ? ['all'] : ['storage'];
    if (need.method !== EXACT && need.method !== state.storage) return [];
    const what = [];
    if (need.index === state.doc) what.push('document');
    if (need.index === state.a || need.index === state.b) what.push('pair');
    return what;
  }

  // ---- 2. the data source --------------------------------------------------------------

  /** The payload and the views it left out (a large Run's documents, the storage settings), asked for through
   *  ``fetchDocument(index, method)`` / ``fetchStorage()`` and kept here; the payload is never written to.
   *  An answer ``{error}`` is final (kept: asking again says why); a fetch that threw or was answered
   *  ``{error, retry: true}`` (the server is busy) is asked again after ``retryMs``, doubled at each failure, by
   *  itself ``RETRIES`` times, then whenever the views are asked for once that delay has passed. */
  class DataSource {
    constructor(payload, options) {
      const o = options || {};
      this.payload = payload;
      this.fetchDocument = o.fetchDocument || null;
      this.fetchStorage = o.fetchStorage || null;
      this.retryMs = o.retryMs || RETRY_MS;
      this.fetched = new Map();  // "storage" / "document:<index>:<method>" → what the server sent
      this.pending = new Map();
      this.failed = new Map();  // key → {message, final, tries, retryAt}
      this.onArrive = null;  // onArrive(need): a fetch ended, whichever way, or its retry is due
    }

    /** Whether the storage control can show anything: its views are here or can be asked for. */
    storable() { return !!(this.payload.storage || this.fetchStorage); }

    /** The storage summary (rankings, Kendall tau, the decision table), or null while it is not here. */
    storage() { return this.payload.storage || this.fetched.get('storage') || null; }

    /** Document ``i``'s views, exact or under storage ``method``; null while they are not here. */
    views(i, method) {
      const here = method === EXACT ? this.payload.views : (this.payload.stored_views || {})[method];
      return (here && here[String(i)]) || this.fetched.get(`document:${i}:${method}`) || null;
    }

    /** What the views of ``docs`` under ``state`` need that is not here: the storage summary first. */
    missing(state, docs) {
      const out = [];
      const stored = state.storage !== EXACT;
      if (stored && !this.storage()) return [{what: 'storage'}];
      for (const i of docs) {
        if (!this.views(i, EXACT)) out.push({what: 'document', index: i, method: EXACT});
        if (stored && !this.views(i, state.storage)) out.push({what: 'document', index: i, method: state.storage});
      }
      return out;
    }

    /** Ask once for each of ``needs`` (``missing``'s list) not on its way; ``onArrive`` follows each answer.
     *  Returns why they cannot come (a message), or null while they may. */
    request(needs) {
      for (const need of needs) {
        const key = need.what === 'storage' ? 'storage' : `document:${need.index}:${need.method}`;
        const failure = this.failed.get(key);
        if (failure && (failure.final || Date.now() < failure.retryAt)) return failure.message;
        const fetcher = need.what === 'storage' ? this.fetchStorage : this.fetchDocument;
        if (!fetcher) return 'These views are not in this file.';
        if (this.pending.has(key)) continue;
        const asked = need.what === 'storage' ? fetcher() : fetcher(need.index, need.method);
        this.pending.set(key, Promise.resolve(asked)
          .then(data => {
            if (this.keep(key, need, data)) this.failed.delete(key);
            else this.fail(key, need, (data && data.error) || 'Could not be loaded.', !(data && data.retry));
          }, err => this.fail(key, need, String(err && err.message || err), false))
          .finally(() => { this.pending.delete(key); if (this.onArrive) this.onArrive(need); }));
      }
      return null;
    }

    /** Remember why ``key`` did not come: for good (``final``), or until its retry is due. */
    fail(key, need, message, final) {
      const tries = final ? 0 : (this.failed.has(key) ? this.failed.get(key).tries : 0) + 1;
      const delay = this.retryMs * 2 ** (Math.min(tries, RETRIES) - 1), again = !final && tries <= RETRIES;
      const failure = {message: again ? `${message} (Trying again in ${Math.ceil(delay / 1000)} s.)` : message,
        final, tries, retryAt: Date.now() + delay};
      this.failed.set(key, failure);
      if (again) setTimeout(() => { failure.retryAt = 0; if (this.onArrive) this.onArrive(need); }, delay);
    }

    /** Keep what the server sent; false if it is not what was asked for. */
    keep(key, need, data) {
      if (!data || data.error || (need.what === 'storage' ? !data.methods : data.index !== need.index)) return false;
      this.fetched.set(key, data);
      return true;
    }
  }

  // ---- 3. views: pure builders (source, state) → specs ----------------------------------

  const stored = s => s.storage !== EXACT;
  const pooled = s => s.storage.startsWith('pool-');
  const settingId = (s, dim) => `${dim === undefined ? s.dim : dim}/${s.storage}`;
  /** The document axis the views show: words (sub-words merged) or tokens (always, under pooling). */
  const variantName = s => (s.merge && !pooled(s) ? 'words' : 'tokens');

  /** Reading the payload and the source under a state: which ranking, which views, which axis. */
  const select = {
    ranking(src, s, dim) {
      const d = String(dim === undefined ? s.dim : dim);
      return stored(s) ? src.storage().rankings[settingId(s, d)] : src.payload.rankings[d];
    },
    exactRanking(src) { return src.payload.rankings[String(src.payload.model.native_dim)]; },
    queryAxis(src, s) { return src.payload.query.axes[variantName(s)]; },
    variant(src, s, i) { const v = src.views(i, s.storage); return v ? v.variants[variantName(s)] : null; },
    exactVariant(src, s, i) { const v = src.views(i, EXACT); return v ? v.variants[variantName(s)] : null; },
    dimView(src, s, i) { const v = select.variant(src, s, i); return v ? v.dims[String(s.dim)] : null; },
    /** The document axis: exact tokens or words, or the items a storage method keeps (per dimension). */
    axis(src, s, i) { return select.dimView(src, s, i).axis || select.variant(src, s, i).axis; },
    label(src, i) { return src.payload.documents[i].label; },
  };

  /** The query as the model scored it: its tokens (expansion tokens as one "× n" chip) and the payload's note. */
  function scoredQuery(payload) {
    const axis = payload.query.axes.tokens, scored = payload.query.scored;
    if (!scored) return null;
    const chips = [];
    axis.labels.forEach((label, k) => {
      const kind = axis.kinds[k];
      if (kind === 'expansion' && k > 0 && axis.kinds[k - 1] === 'expansion') return;
      let n = 1;
      while (kind === 'expansion' && axis.kinds[k + n] === 'expansion') n++;
      chips.push({kind, text: n > 1 ? `${label} × ${n}` : label});
    });
    return {chips, note: scored.note, truncated: scored.truncated,
      data: {tokens: scored.tokens, dropped: scored.dropped, expansion: scored.expansion}};
  }

  /** The document menus' options, in the order of the ranking on screen. */
  function menuOptions(src, s) {
    const r = select.ranking(src, s), docs = src.payload.documents;
    return r.order.map(i => ({value: i, text: `${docs[i].label} · #${r.ranks[i]} · ${ISOLATE(docs[i].menu)}`}));
  }

  /** The ranking table: the columns the payload names for this ranking, a row per document (top n). */
  function rankingTable(src, s) {
    const p = src.payload, r = select.ranking(src, s), exact = select.exactRanking(src);
    const n = p.top_n ? Math.min(p.top_n, r.order.length) : r.order.length;
    const cell = {
      rank: (i, k) => ({text: String(k + 1)}),
      doc: i => ({text: String(i + 1)}),
      score: i => ({text: fixed(r.scores[i], 2), class: 'cv-num'}),
      per_token: i => ({text: fixed(r.per_token[i], 3), class: 'cv-num'}),
      rank_at: (i, k, c) => ({text: String(select.ranking(src, s, c.dim).ranks[i])}),
      exact_rank: i => ({text: `${exact.ranks[i]}${moved(exact.ranks[i] - r.ranks[i])}`,
        class: exact.ranks[i] !== r.ranks[i] ? 'cv-moved' : ''}),
      stored_bytes: i => ({text: `${count(Math.round(r.bytes_per_document[i]))}${r.rescored.includes(i) ? ' · rescored' : ''}`,
        class: 'cv-num'}),
      tokens: i => ({text: String(p.documents[i].tokens)}),
      preview: i => ({text: p.documents[i].preview, class: 'cv-preview', isolate: true}),
    };
    return {columns: r.columns.map(c => c.title), dim: s.dim, storage: s.storage,
      rows: r.order.slice(0, n).map((i, k) => ({doc: i, cells: r.columns.map(c => cell[c.key](i, k, c))})),
      note: n < r.order.length ? `Showing the top ${n} of ${r.order.length} documents (top n).` : null};
  }

  /** Why this Run cannot be stored under ``method`` (the storage summary says), or null. */
  function unavailable(src, method) {
    const summary = src.storage();
    return (summary && summary.unavailable[method]) || null;
  }

  /** The decision-table row of setting ``id`` (e.g. "64/int8"). */
  function storageRow(summary, id) { return summary && summary.table ? summary.table.find(r => r.setting === id) : null; }

  /** The line beside the storage control: what the current setting stores and what it changes. */
  function storageInfo(src, s) {
    const summary = src.storage();
    const row = storageRow(summary, settingId(s)), exact = storageRow(summary, summary ? summary.exact : '');
    if (!row || !exact) return stored(s) ? '' : 'exact float32: the vectors as encoded.';
    const bytes = r => `${r.bytes_per_token.toLocaleString('en', {maximumFractionDigits: 1})} B per token · ` +
      `${count(Math.round(r.bytes_per_document))} B per document`;
    return `${row.setting}: ${bytes(row)} (exact ${exact.setting}: ${bytes(exact)}) · ` +
      `Kendall tau vs exact ${fixed(row.kendall_tau, 3)} · largest rank change ${row.largest_rank_change} · ` +
      `largest score change ${fixed(row.largest_score_change, 3)}`;
  }

  /** The decision table: every storage setting × dimension, the current one selected; null until it is here. */
  function storageTable(src, s) {
    const summary = src.storage();
    if (!summary) return null;
    const current = settingId(s);
    return {columns: ['Setting', 'Bytes/token', 'Bytes/document', 'Vectors/document', 'Kendall tau',
      'Largest rank change', 'Largest score change', 'Notes'],
    rows: summary.table.map(r => {
      const [dim, method] = r.setting.split('/');
      return {setting: r.setting, dim: Number(dim), method, selected: r.setting === current, cells: [
        {text: r.setting}, {text: r.bytes_per_token.toLocaleString('en', {maximumFractionDigits: 1}), class: 'cv-num'},
        {text: count(Math.round(r.bytes_per_document)), class: 'cv-num'},
        {text: fixed(r.stored_vectors_per_document, 1), class: 'cv-num'},
        {text: fixed(r.kendall_tau, 3), class: 'cv-num'}, {text: String(r.largest_rank_change), class: 'cv-num'},
        {text: fixed(r.largest_score_change, 3), class: 'cv-num'},
        {text: [r.shared_bytes ? `${count(r.shared_bytes)} B shared` : '', r.keeps_originals ? 'keeps the originals' : '']
          .filter(Boolean).join(' · '), class: 'cv-nowrap'}]};
    }).concat(Object.entries(summary.unavailable).map(([method, why]) => ({setting: method, method, unavailable: true,
      selected: false, cells: [{text: method}, ...Array(6).fill({text: '–', class: 'cv-num'}), {text: why}]})))};
  }

  /** The rankings at every dimension and Kendall tau between them, under the storage setting. */
  function dimensionTables(src, s) {
    const p = src.payload, dims = p.model.dimensions;
    const rankings = dims.map(d => select.ranking(src, s, d));
    const ranks = {columns: ['Rank', ...dims.map(d => `${d} dims`)],
      rows: rankings[0].order.map((_, k) => [String(k + 1),
        ...rankings.map(r => `${select.label(src, r.order[k])} · ${fixed(r.scores[r.order[k]], 2)}`)])};
    const taus = stored(s) ? src.storage().tau[s.storage] : p.tau;
    const tau = taus.length ? {columns: ['Dimensions', 'Kendall tau'], rows: taus.map(t => [`${t.a} vs ${t.b}`, fixed(t.tau, 3)])}
      : null;
    return {ranks, tau};
  }

  /** The query tokens of the selected document whose best match moves between dimensions. */
  function changesTable(src, s) {
    const mc = src.views(s.doc, s.storage).match_changes;
    return mc.rows.length ? {columns: mc.columns, rows: mc.rows}
      : {empty: `${select.label(src, s.doc)}: every query token keeps its best match at every dimension.`};
  }

  /** Positions of a view's rows or columns after the hide toggles. */
  function shown(axis, isQuery, s) {
    const out = [];
    axis.kinds.forEach((k, i) => {
      if (isQuery && s.hideExpansion && k === 'expansion') return;
      if (s.hideSpecial && SPECIAL_KINDS.includes(k)) return;
      out.push(i);
    });
    return out;
  }

  /** Margins that fit the tick labels (computed here: plotly's automargin costs a second layout pass). */
  function margins(yLabels, xLabels) {
    const longest = labels => labels.reduce((m, l) => Math.max(m, Math.min(18, String(l).length)), 0);
    const m = {l: 24 + 7 * longest(yLabels), r: 10, t: TITLE_TOP, b: 10};
    if (xLabels) m.b = 20 + Math.round(6 * 0.87 * longest(xLabels));
    return m;
  }

  function baseLayout(title, subtitle, height) {
    return {title: {text: title, subtitle: {text: subtitle}, x: 0.005, xanchor: 'left', y: 1, yref: 'container',
      yanchor: 'top', pad: {t: 30}}, font: FONT, height: height,
    margin: {l: 10, r: 10, t: TITLE_TOP, b: 10}, plot_bgcolor: 'white', showlegend: false, autosize: true};
  }

  /** Break a layout's title and subtitle into lines that fit ``width`` px (a phone; the visible part of a wide
   *  chart), growing the top margin by the lines added. Changes ``layout`` (a spec just built), returns it. */
  function wrapTitle(layout, width) {
    if (!width) return layout;
    const lines = (text, px, room = width - 16) => {
      const max = Math.max(12, Math.floor(room / px)), out = [];
      for (const word of String(text).split(' ')) {
        const last = out.length ? out[out.length - 1] : null;
        const visible = t => t.replace(/&[a-z#0-9]+;/g, '&').replace(/<[^>]*>/g, '').length;
        if (last !== null && visible(last + ' ' + word) <= max) out[out.length - 1] = last + ' ' + word;
        else out.push(word);
      }
      return out;
    };
    const title = lines(layout.title.text, 9.2), sub = lines(layout.title.subtitle.text, 7);
    layout.title.text = title.join('<br>');
    layout.title.subtitle.text = sub.join('<br>');
    const extra = TITLE_LINE * (title.length - 1) + SUBTITLE_LINE * (sub.length - 1);
    // plotly lifts a title of n lines by n - 1 lines above its anchor: pad it down by as much
    layout.title.pad = {t: layout.title.pad.t + 26 * (title.length - 1)};
    if (extra) {
      layout.margin.t += extra;
      layout.height += extra;
    }
    const axis = layout.xaxis && layout.xaxis.title;
    if (axis && axis.text) {  // centred under the plot area: wrapped to its width, the bottom margin grown to match
      const x = lines(axis.text, AXIS_CHAR, width - layout.margin.l - layout.margin.r);
      axis.text = x.join('<br>');
      layout.margin.b += AXIS_LINE * (x.length - 1);
      layout.height += AXIS_LINE * (x.length - 1);
    }
    return layout;
  }

  function subtitle(src, s, i, withScore) {
    const view = select.dimView(src, s, i);
    return [plotlyText(select.label(src, i)), `${s.dim} dimensions`].concat(stored(s) ? [s.storage] : [],
      withScore ? [`score ${fixed(view.score, 2)}`] : []).join(' · ');
  }

  /** The heatmap's columns: every shown item, a raw window of them, or the folded match view. */
  function heatColumns(src, s, variant, view, rows) {
    const limit = src.payload.limits.columns;
    const axis = view.axis || variant.axis;
    const positions = shown(axis, false, s);
    const long = positions.length > limit;
    const fold = (view.folds || []).find(f => f.hide_expansion === s.hideExpansion && f.hide_special === s.hideSpecial);
    if (long && !s.raw && fold) {
      const z = f32(fold, 'similarity'), n = fold.columns.length;
      return {long, used: null, rows: fold.rows, columns: fold.columns.map((c, k) => ({start: c.start, end: c.end,
        count: c.count, gap: c.gap, value: r => { const v = z[r * n + k]; return Number.isNaN(v) ? null : v; }}))};
    }
    let chosen = positions, used = null;
    if (long) {
      let first = positions.findIndex(x => x >= s.start);
      if (first < 0) first = positions.length;
      first = Math.max(0, Math.min(first, positions.length - limit));
      chosen = positions.slice(first, first + limit);
      used = chosen.length ? chosen[0] : 0;
    }
    const sim = f32(view, 'similarity'), n = axis.labels.length;
    return {long, used, rows, columns: chosen.map(x => ({start: x, end: x, count: 1, gap: false,
      value: (k, row) => sim[row * n + x]}))};
  }

  /** The heatmap of the selected document: traces, layout (``width``: the box it is drawn in, px), what the
   *  view's data-* attributes say, and the raw window's slider. */
  function heatmapSpec(src, s, width) {
    const i = s.doc, variant = select.variant(src, s, i), view = select.dimView(src, s, i);
    const q = select.queryAxis(src, s), d = select.axis(src, s, i);
    const h = heatColumns(src, s, variant, view, shown(q, true, s));
    const rows = h.rows, cols = h.columns;
    const yKeys = rows.map(r => `#${r} ${plotlyText(q.labels[r])}`);
    const xKeys = cols.map(c => c.gap ? `${c.count} tokens #${c.start}–#${c.end}` : `#${c.start} ${plotlyText(d.labels[c.start])}`);
    const isSkipped = c => !c.gap && d.kinds[c.start] === 'skipped';
    const z = rows.map((r, k) => cols.map(c => isSkipped(c) ? null : c.value(k, r)));
    const zSkipped = rows.map((r, k) => cols.map(c => isSkipped(c) ? c.value(k, r) : null));
    const [zmin, zmax] = src.payload.similarity_range[String(s.dim)];
    const traces = [{type: 'heatmap', x: xKeys, y: yKeys, z: z, zmin, zmax, colorscale: 'Viridis', name: 'similarity',
      hoverongaps: false, colorbar: {title: {text: 'cosine', side: 'right'}, orientation: 'h', thickness: 10,
        len: 200, lenmode: 'pixels', x: 0, xanchor: 'left', y: 1, yanchor: 'bottom', ypad: 6},
      hovertemplate: 'query %{y}<br>document %{x}<br>similarity %{z:.3f}<extra></extra>'}];
    if (cols.some(isSkipped)) {
      traces.push({type: 'heatmap', x: xKeys, y: yKeys, z: zSkipped, zmin, zmax, colorscale: SKIPPED_SCALE,
        showscale: false, hoverongaps: false, name: 'skipped',
        hovertemplate: 'query %{y}<br>document %{x}<br>similarity %{z:.3f}<br><i>skipped: punctuation is not scored</i><extra></extra>'});
    }
    const columnOf = new Map(cols.map((c, k) => [c.gap ? -1 : c.start, k]));
    const best = view.best_index, bestSim = f32(view, 'best_similarity');
    const marks = rows.map((r, k) => [k, columnOf.get(best[r])]).filter(([, c]) => c !== undefined && c >= 0);
    if (marks.length) {
      traces.push({type: 'scatter', mode: 'markers', name: 'best match', x: marks.map(([, c]) => xKeys[c]),
        y: marks.map(([k]) => yKeys[k]), customdata: marks.map(([k]) => bestSim[rows[k]]),
        marker: {symbol: 'square-open', size: 11, color: '#e8112d', line: {width: 2}},
        hovertemplate: 'query %{y}<br>best match %{x}<br>similarity %{customdata:.3f}<extra></extra>'});
    }
    const nDoc = d.labels.length;
    let title = 'Similarity of every query token to every document token';
    if (h.used !== null) title = `Similarity: raw window from token ${h.used} (${cols.length} of ${nDoc} items)`;
    else if (cols.some(c => c.gap)) title = `Similarity: windows around the best matches (${nDoc} items, runs collapsed)`;
    const layout = baseLayout(title, subtitle(src, s, i, true), 200 + ROW_PX * rows.length);
    if (cols.length > WIDE_FROM) Object.assign(layout, {width: 220 + COLUMN_PX * cols.length, autosize: false});
    layout.xaxis = {type: 'category', categoryorder: 'array', categoryarray: xKeys, tickvals: xKeys,
      ticktext: cols.map(c => c.gap ? `<i>… ${c.count} tokens</i>` : tickLabel(d.labels[c.start], d.kinds[c.start])),
      tickangle: -60, tickfont: {size: 10}, showgrid: false};
    layout.margin = margins(rows.map(r => q.labels[r]), cols.map(c => c.gap ? `… ${c.count} tokens` : d.labels[c.start]));
    layout.margin.t += 32;  // the colour bar, above the cells, from the left edge (seen before any scrolling)
    const cells = (layout.width || width || 800) - layout.margin.l - layout.margin.r;
    Object.assign(traces[0].colorbar, {x: cells > 0 ? -(layout.margin.l - 8) / cells : 0,
      len: Math.min(200, (layout.width || width || 800) - 80)});
    layout.yaxis = {type: 'category', categoryorder: 'array', categoryarray: yKeys, tickvals: yKeys,
      autorange: 'reversed', showgrid: false, ticktext: rows.map(r => tickLabel(q.labels[r], q.kinds[r]))};
    return {traces, layout, data: {columns: cols.length, rows: rows.length, title, score: view.score},
      window: h.long ? {max: Math.max(1, nDoc - src.payload.limits.columns), start: s.start} : null};
  }

  /** The words under a heatmap cell (row, column of the drawn traces), as a tap shows them. */
  function cellText(traces, row, col) {
    const t = traces[0], skipped = traces.find(x => x.name === 'skipped');
    if (!(col >= 0 && col < t.x.length && row >= 0 && row < t.y.length)) return null;
    const value = t.z[row][col] ?? (skipped ? skipped.z[row][col] : null);
    if (value === null || value === undefined) return null;
    const strip = x => String(x).replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    return `query ${strip(t.y[row])} · document ${strip(t.x[col])} · similarity ${fixed(value, 3)}` +
      (t.z[row][col] === null ? ' · skipped: punctuation is not scored' : '');
  }

  /** Each query token's contribution to the score and its best match. */
  function contributionsSpec(src, s) {
    const i = s.doc, view = select.dimView(src, s, i), q = select.queryAxis(src, s), d = select.axis(src, s, i);
    const keys = q.labels.map((l, k) => `#${k} ${plotlyText(l)}`);
    const matched = view.best_index.map(j => plotlyText(d.labels[j]));
    const layout = baseLayout(`Contributions: total ${fixed(view.score, 2)} = the score`, subtitle(src, s, i, false),
      150 + ROW_PX * q.labels.length);
    layout.bargap = 0.25;
    layout.yaxis = {type: 'category', categoryorder: 'array', categoryarray: keys, tickvals: keys, autorange: 'reversed',
      ticktext: q.labels.map((l, k) => tickLabel(l, q.kinds[k]))};
    layout.xaxis = {title: {text: 'similarity of the best match (cosine)'}, zeroline: true, gridcolor: '#eeeeee'};
    layout.margin = margins(q.labels);
    layout.margin.b = 50;
    const traces = [{type: 'bar', orientation: 'h', x: view.contributions, y: keys,
      marker: {color: q.kinds.map(k => KIND_COLORS[k] || KIND_COLORS.text)},
      text: matched.map(m => `→ ${m}`), textposition: 'auto', insidetextanchor: 'end', customdata: matched,
      hovertemplate: 'query %{y}<br>best match %{customdata}<br>adds %{x:.3f}<extra></extra>'}];
    return {traces, layout, data: {total: view.score, bars: view.contributions.length}};
  }

  /** The selected document's text, each token shaded by its best similarity to any query token and outlined
   *  where it is a query token's MaxSim match: pieces (gap, elided run, token) with their hover text. */
  function highlightSpec(src, s) {
    const p = src.payload, i = s.doc, view = select.dimView(src, s, i), q = select.queryAxis(src, s);
    // The text is the exact document's; under a storage method each token takes its stored item's values.
    const exact = select.exactVariant(src, s, i), exactView = exact.dims[String(s.dim)], d = exact.axis;
    const items = select.axis(src, s, i), itemOf = new Map();
    if (pooled(s)) items.groups.forEach((g, k) => g.forEach(x => itemOf.set(x, k)));
    const item = pos => (itemOf.size ? itemOf.get(pos) : pos);
    const zrange = p.similarity_range[String(s.dim)];
    const closest = view.closest_query, closestSim = f32(view, 'closest_similarity'), bestSim = f32(view, 'best_similarity');
    const chosen = new Map();
    view.best_index.forEach((j, k) => { if (!chosen.has(j)) chosen.set(j, []); chosen.get(j).push(k); });
    const unit = variantName(s) === 'words' ? 'word' : 'token';
    const out = [];
    for (const piece of exactView.pieces || exact.pieces) {
      if ('elided' in piece) { out.push({type: 'elided', text: `… ${count(piece.elided)} tokens …`}); continue; }
      if (!('position' in piece)) { out.push({type: 'gap', text: piece.text}); continue; }
      const pos = piece.position, kind = d.kinds[pos], at = item(pos), by = chosen.get(at) || [];
      const lines = [`${d.labels[pos]}  (${unit} ${pos})`];
      if (itemOf.size && items.groups[at].length > 1) lines.push(`stored pooled with its neighbours as ${items.labels[at]}`);
      if (kind === 'skipped') lines.push('skipped: punctuation is not scored');
      if (kind === 'typed') lines.push(`typed in the text: parsed as the special token ${d.labels[pos]}, as the model's tokenizer does`);
      lines.push(`closest query token: ${q.labels[closest[at]]} (${fixed(closestSim[at], 3)})`);
      if (by.length) {
        const names = by.slice(0, 8).map(k => `${q.labels[k]} (${fixed(bestSim[k], 3)})`).join(', ');
        lines.push(`MaxSim match of: ${names}${by.length > 8 ? ` and ${by.length - 8} more` : ''}`);
      }
      // A bare word-boundary piece (▁) stands for the space before it: it takes that space from the gap.
      const last = out[out.length - 1];
      const space = piece.text === '' && !d.labels[pos].replace(/\u2581/g, '') && last && last.type === 'gap'
        && last.text.endsWith(' ');
      if (space) last.text = last.text.slice(0, -1);
      const chip = piece.text === '' && !space;
      out.push({type: 'token', position: pos, kind, match: by.length > 0, chip, title: lines.join('\n'),
        text: space ? ' ' : chip ? d.labels[pos] : piece.text,
        background: kind === 'skipped' ? null : shade(closestSim[at], zrange)});
    }
    const doc = p.documents[i], notes = [];
    if (exactView.pieces) notes.push(`Long document: showing ${count(exactView.shown)} of ${count(d.labels.length)} items, around the best matches.`);
    if (doc.truncated) notes.push(`Truncated: the document was cut to ${doc.tokens}; the last ${count(src.views(i, EXACT).untokenized_tail)} characters were not encoded and play no part in the score.`);
    if (stored(s)) notes.push(`Stored as ${s.storage}: the shades and outlines are the stored vectors' similarities${pooled(s) ? ' (a pooled vector shades every token it merged)' : ''}.`);
    return {title: `${doc.label} · ${s.dim} dimensions${stored(s) ? ` · ${s.storage}` : ''} · score ${fixed(view.score, 2)}`,
      notes, pieces: out, data: {dimension: s.dim, document: doc.label, score: fixed(view.score, 4), tokens: d.labels.length}};
  }

  /** "Why A above B": per query token, what A's best match adds minus what B's adds; the table of it. */
  function pairSpec(src, s) {
    const a = s.a, b = s.b, q = select.queryAxis(src, s);
    const va = select.dimView(src, s, a), vb = select.dimView(src, s, b);
    const da = select.axis(src, s, a), db = select.axis(src, s, b);
    const rows = q.labels.map((l, k) => ({k, label: l, ca: va.contributions[k], cb: vb.contributions[k],
      diff: va.contributions[k] - vb.contributions[k], ma: da.labels[va.best_index[k]], mb: db.labels[vb.best_index[k]]}));
    const total = va.score - vb.score;
    const la = plotlyText(select.label(src, a)), lb = plotlyText(select.label(src, b));
    const keys = rows.map(r => `#${r.k} ${plotlyText(r.label)}`);
    // The title's three numbers add up as shown: the difference is that of the rounded scores.
    const cents = x => Math.round(x * 100), shownDiff = cents(va.score) - cents(vb.score);
    const title = a === b ? `${la} against itself: every difference is 0`
      : `Why ${la} ${total >= 0 ? 'above' : 'below'} ${lb}: ${fixed(cents(va.score) / 100, 2)} − ${fixed(cents(vb.score) / 100, 2)} = ${signed(shownDiff / 100, 2)}`;
    const note = a === b ? 'Document A and document B are the same document: choose another B to see ' +
      'what separates two documents.' : '';
    const layout = baseLayout(title, `right: the query token adds more to ${la}; left: more to ${lb} · ${s.dim} dimensions` +
      ' · the difference is that of the scores rounded to 2 decimals', 150 + ROW_PX * rows.length);
    layout.yaxis = {type: 'category', categoryorder: 'array', categoryarray: keys, tickvals: keys, autorange: 'reversed',
      ticktext: rows.map(r => tickLabel(r.label, q.kinds[r.k]))};
    layout.xaxis = {title: {text: `contribution to ${la} − contribution to ${lb}`}, zeroline: true, zerolinecolor: '#444', gridcolor: '#eeeeee'};
    layout.margin = margins(q.labels);
    layout.margin.b = 50;
    const traces = [{type: 'bar', orientation: 'h', x: rows.map(r => r.diff), y: keys,
      marker: {color: rows.map(r => r.diff >= 0 ? A_COLOR : B_COLOR)},
      customdata: rows.map(r => [r.ca, r.cb, plotlyText(r.ma), plotlyText(r.mb)]),
      hovertemplate: `query %{y}<br>${la}: %{customdata[0]:.3f} (→ %{customdata[2]})<br>${lb}: %{customdata[1]:.3f} (→ %{customdata[3]})<br>difference %{x:+.3f}<extra></extra>`}];
    const A = select.label(src, a), B = select.label(src, b);
    const sorted = rows.slice().sort((x, y) => Math.abs(y.diff) - Math.abs(x.diff));
    return {traces, layout, note, data: {total},
      table: {columns: ['Query token', `${A} adds`, `${A} match`, `${B} adds`, `${B} match`, `${A} − ${B}`],
        rows: sorted.map(r => [q.names[r.k], fixed(r.ca, 3), r.ma, fixed(r.cb, 3), r.mb, fixed(r.diff, 3)])}};
  }

  // ---- 4. the shell: DOM and events ----------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  function bdi(text) { return el('bdi', {dir: 'auto', text: text}); }

  /** A table of plain cells (strings) or built ones ({text, class, isolate}); ``rowAttrs(k)`` for each row. */
  function tableEl(spec, attrs, rowAttrs) {
    const cell = c => (typeof c === 'string' ? el('td', {}, bdi(c))
      : el('td', {class: c.class || null}, c.isolate ? bdi(c.text) : c.text));
    return el('table', Object.assign({class: 'cv-table'}, attrs || {}),
      el('thead', {}, el('tr', {}, spec.columns.map(c => el('th', {text: c})))),
      el('tbody', {}, spec.rows.map((r, k) => el('tr', rowAttrs ? rowAttrs(k) : {}, (r.cells || r).map(cell)))));
  }

  function loading(text) { return el('p', {class: 'cv-small cv-loading', text: text}); }

  class Explorer {
    constructor(root, payload, options) {
      this.root = root;
      this.o = Object.assign({ids: false, fetchDocument: null, fetchStorage: null, onExport: null}, options || {});
      this.source = new DataSource(payload, this.o);
      this.source.onArrive = need => { if (this.live()) this.draw(arrived(this.state, need)); };
      this.Plotly = this.o.plotly || global.Plotly;
      this.deferred = new Set();
      this.waiting = false;  // a document's views are on their way from the server
      root.__colbertViz = this;  // a later mount on the same element retires this one
      this.state = initialState(payload, this.o.initial, this.source.storable());
      this.build();
      this.draw(['all']);
    }

    get payload() { return this.source.payload; }

    id(name) { return this.o.ids ? name : null; }

    live() { return this.root.__colbertViz === this; }

    /** Whether the views of ``docs`` are here (else: asked for, and ``this.fetchError`` says why not, if known). */
    ready(docs) {
      const missing = this.source.missing(this.state, docs);
      this.fetchError = missing.length ? this.source.request(missing) : null;
      return !missing.length;
    }

    // ---- the DOM, built once ----

    build() {
      const p = this.payload, m = p.model;
      this.root.replaceChildren();
      this.root.classList.add('cv-explorer');
      const dims = m.dimensions.map(d => el('label', {class: 'cv-radio'},
        el('input', {type: 'radio', name: 'cv-dim-' + Math.random().toString(36).slice(2), value: d,
          'data-dim': d, onchange: () => this.set({dim: d})}), ` ${d}${d === m.native_dim ? ' (native)' : ''}`));
      this.dimInputs = dims.map(l => l.querySelector('input'));
      const toggle = (key, text, id, hidden) => {
        const input = el('input', {type: 'checkbox', onchange: e => this.set({[key]: e.target.checked})});
        const box = el('label', {class: 'cv-check', id: this.id(id), hidden: hidden}, input, ' ' + text);
        return [box, input];
      };
      const expansionName = m.expansion.length ? m.expansion.join(', ') : '';
      const [expBox, expInput] = toggle('hideExpansion', `Hide ${expansionName} expansion tokens`, 'hide-expansion',
        !m.expansion.length);
      const [spBox, spInput] = toggle('hideSpecial', 'Hide special tokens and markers', 'hide-special',
        !(m.specials.length || m.markers.length));
      const [mergeBox, mergeInput] = toggle('merge', 'Merge sub-words into words', 'merge-words', false);
      this.inputs = {hideExpansion: expInput, hideSpecial: spInput, merge: mergeInput};
      this.docSelect = el('select', {id: this.id('selected-document'), class: 'cv-select',
        'aria-label': 'Document', onchange: e => this.set({doc: Number(e.target.value)})});
      this.aSelect = el('select', {id: this.id('doc-a'), class: 'cv-select', 'aria-label': 'Document A',
        onchange: e => this.set({a: Number(e.target.value)})});
      this.bSelect = el('select', {id: this.id('doc-b'), class: 'cv-select', 'aria-label': 'Document B',
        onchange: e => this.set({b: Number(e.target.value)})});
      this.rawInput = el('input', {type: 'checkbox', onchange: e => this.set({raw: e.target.checked})});
      this.startInput = el('input', {type: 'range', min: 0, max: 1, step: 1, value: 0,
        oninput: e => this.set({start: Number(e.target.value), raw: true})});
      this.startValue = el('span', {class: 'cv-small'});
      // Storage methods: when their views are here (a file, a notebook) or can be asked for (the page).
      const methods = this.source.storable() ? p.storage_methods || [] : [];
      this.storageSelect = el('select', {class: 'cv-select', 'aria-label': 'Storage',
        onchange: e => this.set({storage: e.target.value})},
      methods.map(name => el('option', {value: name, text: name === EXACT ? 'exact (float32)' : name})));
      this.storageInfo = el('span', {class: 'cv-small cv-storage-info', id: this.id('storage-info')});
      const bar = el('div', {class: 'cv-bar'},
        el('fieldset', {class: 'cv-dims', id: this.id('dimension'), hidden: m.dimensions.length < 2},
          el('legend', {text: 'Dimensions'}), dims, el('span', {class: 'cv-small', text: p.texts.dimension_note})),
        el('div', {class: 'cv-storage', hidden: !methods.length},
          el('label', {class: 'cv-field', id: this.id('storage')}, el('b', {text: 'Storage'}), this.storageSelect),
          this.storageInfo));
      this.views = {
        ranking: el('div', {class: 'cv-ranking cv-scroll', id: this.id('ranking')}),
        heatmap: el('div', {class: 'cv-plot', id: this.id('heatmap')}),
        contributions: el('div', {class: 'cv-plot', id: this.id('contributions')}),
        highlight: el('div', {class: 'cv-highlight-box', id: this.id('highlight')}),
        dimensionTable: el('div', {class: 'cv-scroll', id: this.id('dimension-table')}),
        tau: el('div', {class: 'cv-scroll', id: this.id('kendall-tau')}),
        changes: el('div', {class: 'cv-scroll', id: this.id('match-changes')}),
        difference: el('div', {class: 'cv-plot', id: this.id('difference')}),
        differenceTable: el('div', {class: 'cv-scroll', id: this.id('difference-table')}),
        storageTable: el('div', {class: 'cv-scroll', id: this.id('storage-table')}),
      };
      this.windowRow = el('div', {class: 'cv-window', id: this.id('window-controls'), hidden: true},
        el('label', {class: 'cv-check', id: this.id('raw-window')}, this.rawInput,
          ' Raw window instead of the match view'),
        el('label', {class: 'cv-range', id: this.id('window-start')}, 'Window start (token position) ',
          this.startInput, this.startValue));
      if (global.ResizeObserver) {  // rows scrolled into view stop below the sticky bar, however it wraps
        new ResizeObserver(() => this.root.style.setProperty('--cv-bar-height', `${bar.offsetHeight}px`)).observe(bar);
      }
      this.message = el('div', {class: 'cv-message', role: 'status'});
      const exportButton = this.o.onExport ? el('button', {class: 'cv-button', id: this.id('export'), type: 'button',
        text: 'Export current view', onclick: () => this.o.onExport(Object.assign({}, this.state))}) : null;
      this.root.append(
        bar,
        el('section', {class: 'cv-section'},
          el('h3', {text: 'Ranking'}), this.scoredQueryEl(),
          el('p', {class: 'cv-small', text: 'Click a row to explain that document.'}),
          this.views.ranking, exportButton),
        el('section', {class: 'cv-section', id: this.id('explanation')},
          el('h3', {text: 'Explanation'}),
          el('div', {class: 'cv-controls'}, el('label', {class: 'cv-field'}, 'Document ', this.docSelect),
            expBox, spBox, mergeBox),
          this.message,
          el('div', {class: 'cv-scroll cv-heat-scroll'}, this.views.heatmap),
          this.cellDetails = el('div', {class: 'cv-details', id: this.id('cell-details'), role: 'status', hidden: true}),
          this.windowRow,
          el('div', {class: 'cv-two'}, el('div', {class: 'cv-scroll'}, this.views.contributions),
            this.views.highlight)),
        el('details', {class: 'cv-section', id: this.id('compare'), open: true},
          el('summary', {text: 'Compare dimensions'}),
          el('div', {class: 'cv-two'},
            el('div', {}, el('h4', {text: 'Ranking at each dimension'}), this.views.dimensionTable),
            el('div', {}, el('h4', {text: 'Kendall tau'}), this.views.tau)),
          el('h4', {text: 'Query tokens whose best match is not the same at every dimension (selected document)'}),
          this.views.changes),
        el('details', {class: 'cv-section', id: this.id('why'), open: true},
          el('summary', {text: 'Why A above B'}),
          el('div', {class: 'cv-controls'}, el('label', {class: 'cv-field'}, 'Document A ', this.aSelect),
            el('label', {class: 'cv-field'}, 'Document B ', this.bSelect)),
          this.pairNote = el('div', {class: 'cv-note', id: this.id('pair-note'), role: 'status'}),
          el('div', {class: 'cv-scroll'}, this.views.difference),
          el('h4', {text: 'Per query token, largest gaps first'}), this.views.differenceTable),
        methods.length ? el('details', {class: 'cv-section', id: this.id('storage-panel'),
          ontoggle: e => { if (e.target.open) this.drawStorageTable(true); }},
        el('summary', {text: 'Storage and compression: what each choice does to this ranking'}),
        el('p', {class: 'cv-small', text: 'Every way of storing the document vectors, at every dimension, scored ' +
            'against this query without encoding again. Kendall tau and the changes are against exact float32 at ' +
            `${m.native_dim} dimensions. Click a row to explore that setting.`}),
        this.views.storageTable) : '');
    }

    scoredQueryEl() {
      const spec = scoredQuery(this.payload);
      if (!spec) return '';
      return el('div', {class: 'cv-query', id: this.id('scored-query'), 'data-tokens': spec.data.tokens,
        'data-dropped': spec.data.dropped, 'data-expansion': spec.data.expansion},
      el('b', {text: 'Scored query '}),
      el('span', {class: 'cv-qtoks', dir: 'auto'}, spec.chips.map(c => [el('span', {class: `cv-qtok cv-${c.kind}`, text: c.text}), ' '])),
      el('div', {class: spec.truncated ? 'cv-note' : 'cv-small', text: spec.note}));
    }

    // ---- events → state → drawing ----

    /** Change any part of the state and redraw what depends on it. */
    set(changes) {
      this.notice = null;
      const before = this.state;
      this.state = update(before, changes);
      this.draw(affected(before, this.state));
    }

    /** Redraw what ``what`` names. The heatmap (and the cheap tables) are drawn at once; the other
     *  charts follow in the next frame, so the view the user looks at changes first.
     *  ``root.dataset.pending`` is "1" until everything is drawn, a document's views still being
     *  fetched included. */
    draw(what) {
      let all = what.includes('all');
      if (stored(this.state)) {
        const waiting = !this.ready([]);  // the storage summary: here, on its way, or why it cannot come
        const why = waiting ? this.fetchError : unavailable(this.source, this.state.storage);
        if (why) {  // a method this Run cannot be stored under: the exact views, and why
          this.state = Object.assign({}, this.state, {storage: EXACT});
          this.notice = why;
          all = true;
        } else if (waiting) {
          this.drawWaiting();
          return;
        }
      }
      this.syncControls();
      if (all) {
        this.drawRanking();
        this.drawMenus();
        this.drawDimensionTables();
        this.storageInfo.textContent = this.notice || storageInfo(this.source, this.state);
        this.drawStorageTable(false);
      } else {
        if (what.includes('rankingSelection')) this.markSelectedRow();
        if (what.includes('storage')) {  // the storage summary came: the line beside the menu, the panel
          this.storageInfo.textContent = this.notice || storageInfo(this.source, this.state);
          this.drawStorageTable(false);
        }
      }
      if (all || what.includes('document')) {  // views still on their way: drawn when they come, not before
        const ready = this.drawDocument();
        this.waiting = !ready && !this.fetchError;  // the document's views are being fetched: not drawn yet
        ['contributions', 'highlight', 'changes'].forEach(x => (ready ? this.deferred.add(x) : this.deferred.delete(x)));
      }
      if (what.length === 1 && what[0] === 'pair') this.drawPair();  // A or B alone: draw it now
      else if (all || what.includes('pair')) this.deferred.add('pair');
      this.root.dataset.dimension = this.state.dim;
      this.root.dataset.document = this.state.doc;
      this.schedule();
    }

    /** While the storage summary is on its way: every view says so, stamped with the state (none shows the
     *  state before, whatever the dimension control says). */
    drawWaiting() {
      const text = `Storing the documents as ${this.state.storage} at every dimension…`;
      this.syncControls();
      this.deferred.clear();
      this.storageInfo.textContent = '';
      for (const name of ['ranking', 'heatmap', 'contributions', 'highlight', 'dimensionTable', 'tau', 'changes',
        'difference']) {
        const node = this.views[name];
        this.purge(node);
        node.replaceChildren(loading(text));
        this.stamp(node);
      }
      for (const name of ['heatmap', 'contributions', 'highlight']) this.views[name].dataset.loading = '1';
      this.views.differenceTable.replaceChildren();
      this.waiting = true;
      this.root.dataset.dimension = this.state.dim;
      this.schedule();
    }

    schedule() {
      if (this.scheduled) return;
      if (!this.deferred.size) {
        this.root.dataset.pending = this.waiting ? '1' : '0';
        return;
      }
      this.scheduled = true;
      this.root.dataset.pending = '1';
      const flush = () => {
        if (!this.scheduled || !this.live()) return;
        this.scheduled = false;
        const tasks = {contributions: () => this.drawContributions(), highlight: () => this.drawHighlight(),
          changes: () => this.drawChanges(), pair: () => this.drawPair()};
        const names = [...this.deferred];
        this.deferred.clear();
        for (const name of names) tasks[name]();
        this.root.dataset.pending = this.waiting ? '1' : '0';
      };
      if (global.requestAnimationFrame) global.requestAnimationFrame(() => setTimeout(flush, 0));
      setTimeout(flush, 100);  // a hidden page has no animation frames
    }

    /** Tag a view with what it shows, for readers and tests. */
    stamp(node) {
      const s = this.state;
      Object.assign(node.dataset, {document: select.label(this.source, s.doc), dimension: s.dim,
        merge: variantName(s), storage: s.storage});
    }

    syncControls() {
      const s = this.state;
      for (const option of this.storageSelect.options) {  // a method this Run cannot be stored under: disabled
        const why = unavailable(this.source, option.value);
        option.disabled = !!why;
        option.title = why || '';
        option.textContent = `${option.value === EXACT ? 'exact (float32)' : option.value}${why ? ' (unavailable)' : ''}`;
      }
      this.storageSelect.value = s.storage;
      this.inputs.merge.disabled = pooled(s);
      this.inputs.merge.parentElement.classList.toggle('cv-disabled', pooled(s));
      this.inputs.merge.parentElement.title = pooled(s) ? 'A pooled vector already stands for several tokens: ' +
        'sub-words are not merged under pooling.' : '';
      for (const input of this.dimInputs) input.checked = Number(input.value) === s.dim;
      for (const [k, input] of Object.entries(this.inputs)) input.checked = !!s[k];
      this.inputs.merge.checked = variantName(s) === 'words';  // what the views show: never words under pooling
      this.rawInput.checked = s.raw;
    }

    // ---- each view: its builder's spec into the DOM ----

    drawMenus() {
      const options = menuOptions(this.source, this.state);
      for (const [menu, key] of [[this.docSelect, 'doc'], [this.aSelect, 'a'], [this.bSelect, 'b']]) {
        menu.replaceChildren(...options.map(o => el('option', {value: o.value, text: o.text})));
        menu.value = String(this.state[key]);
      }
    }

    drawRanking() {
      const spec = rankingTable(this.source, this.state);
      const pick = i => this.set({doc: i});
      const table = tableEl(spec, {class: 'cv-table cv-clickable', 'data-dimension': spec.dim}, k => {
        const i = spec.rows[k].doc;
        return {'data-doc': i, tabindex: 0, class: 'cv-row', onclick: () => pick(i),
          onkeydown: e => { if (e.key === 'Enter') pick(i); }};
      });
      this.views.ranking.replaceChildren(table, spec.note ? el('p', {class: 'cv-small', text: spec.note}) : '');
      this.views.ranking.dataset.dimension = spec.dim;
      this.views.ranking.dataset.storage = spec.storage;
      this.markSelectedRow();
    }

    markSelectedRow() {
      for (const tr of this.views.ranking.querySelectorAll('tr[data-doc]')) {
        tr.classList.toggle('cv-selected', Number(tr.dataset.doc) === this.state.doc);
      }
      this.docSelect.value = String(this.state.doc);
    }

    /** The decision table (asked for when first opened in the page, ``force``). */
    drawStorageTable(force) {
      const node = this.views.storageTable;
      if (!node.parentElement) return;
      const spec = storageTable(this.source, this.state);
      if (!spec) {
        if (!force && !node.parentElement.open) return;
        const error = this.source.request([{what: 'storage'}]);
        node.replaceChildren(error ? el('p', {class: 'cv-note', text: error})
          : loading('Storing the documents every way at every dimension…'));
        return;
      }
      node.replaceChildren(tableEl(spec, {class: 'cv-table cv-clickable'}, k => {
        const r = spec.rows[k];
        if (r.unavailable) return {class: 'cv-unavailable', 'data-setting': r.setting};
        return {class: 'cv-row' + (r.selected ? ' cv-selected' : ''), 'data-setting': r.setting, tabindex: 0,
          onclick: () => this.set({dim: r.dim, storage: r.method})};
      }));
    }

    drawDimensionTables() {
      const spec = dimensionTables(this.source, this.state);
      this.views.dimensionTable.replaceChildren(tableEl(spec.ranks));
      this.views.tau.replaceChildren(spec.tau ? tableEl(spec.tau) : el('p', {class: 'cv-small', text: 'One dimension only.'}));
      this.views.dimensionTable.dataset.storage = this.views.tau.dataset.storage = this.state.storage;
    }

    /** The selected document's heatmap now; false while its views are still on their way. */
    drawDocument() {
      const i = this.state.doc, views = this.views;
      this.docSelect.value = String(i);
      if (!this.ready([i])) {
        const text = this.fetchError || `Loading the views of ${select.label(this.source, i)}…`;
        this.message.textContent = text;
        for (const name of ['heatmap', 'contributions', 'highlight']) {
          this.purge(views[name]);
          views[name].replaceChildren(loading(text));
          this.stamp(views[name]);
          views[name].dataset.loading = '1';
        }
        return false;
      }
      this.message.textContent = '';
      this.drawHeatmap();
      return true;
    }

    drawChanges() {
      const spec = changesTable(this.source, this.state);
      this.views.changes.replaceChildren(spec.empty ? el('p', {class: 'cv-small', text: spec.empty}) : tableEl(spec));
      this.stamp(this.views.changes);
    }

    purge(node) { if (this.Plotly && node.classList.contains('js-plotly-plot')) this.Plotly.purge(node); }

    plot(node, spec) {
      node.querySelectorAll(':scope > p').forEach(x => x.remove());
      wrapTitle(spec.layout, (node.parentElement || node).clientWidth || 0);
      this.Plotly.react(node, spec.traces, spec.layout, {displaylogo: false, responsive: false,
        modeBarButtonsToRemove: ['lasso2d', 'select2d', 'autoScale2d'],
        toImageButtonOptions: {filename: 'colbert-viz'}});
    }

    drawHeatmap() {
      const node = this.views.heatmap;
      const spec = heatmapSpec(this.source, this.state, node.parentElement.clientWidth);
      this.plot(node, spec);
      this.pinRowLabels(node);
      this.cellDetails.hidden = true;
      if (!node.__cvTap) {  // a tap shows what a hover shows (phones have no hover)
        node.__cvTap = true;
        // pointer events, not click: plotly re-dispatches a touch's click without its coordinates
        let down = null;
        node.addEventListener('pointerdown', ev => { down = [ev.clientX, ev.clientY]; });
        node.addEventListener('pointerup', ev => {
          if (down && Math.hypot(ev.clientX - down[0], ev.clientY - down[1]) < 6) this.showCell(node, ev);
          down = null;
        });
      }
      this.stamp(node);
      delete node.dataset.loading;
      Object.assign(node.dataset, spec.data);
      this.windowRow.hidden = !spec.window;
      if (spec.window) {
        this.startInput.max = spec.window.max;
        this.startInput.value = spec.window.start;
        this.startValue.textContent = ` ${spec.window.start}`;
      }
    }

    /** The details of the heatmap cell under a click or tap, in words, below the heatmap (kept in the window: CSS). */
    showCell(node, ev) {
      const area = node.querySelector('.nsewdrag'), traces = node.data;
      if (!area || !traces || !traces.length) return;
      const r = area.getBoundingClientRect(), t = traces[0];
      const text = cellText(traces, Math.floor((ev.clientY - r.top) / (r.height / t.y.length)),
        Math.floor((ev.clientX - r.left) / (r.width / t.x.length)));
      if (text === null) return;
      this.cellDetails.textContent = text;
      this.cellDetails.hidden = false;
    }

    /** Keep the heatmap's row labels in view while a wide heatmap scrolls sideways: a copy of them,
     *  sticky at the left edge of the scroll box, over the cells scrolled beneath. */
    pinRowLabels(node) {
      const box = node.parentElement, old = box.querySelector(':scope > .cv-pin');
      if (old) old.remove();
      const full = node._fullLayout, ticks = node.querySelector('.yaxislayer-above');
      if (!full || !ticks || !ticks.querySelector('text') || !full.width || full.width <= box.clientWidth) return;
      // only as wide as the labels: on a phone the cells keep most of the width
      const svgLeft = node.querySelector('.main-svg').getBoundingClientRect().left;
      const left = Math.floor(Math.min(...[...ticks.querySelectorAll('text')].map(t => t.getBoundingClientRect().left))
        - svgLeft) - 2;
      const top = full.yaxis._offset, height = full.yaxis._length + 2, width = Math.ceil(full.xaxis._offset) - left;
      const ns = 'http://www.w3.org/2000/svg', svg = document.createElementNS(ns, 'svg');
      svg.setAttribute('width', width);
      svg.setAttribute('height', height);
      svg.setAttribute('viewBox', `${left} ${top - 1} ${width} ${height}`);
      svg.appendChild(ticks.cloneNode(true));
      const pin = el('div', {class: 'cv-pin', 'aria-hidden': 'true',
        style: `width:${width}px;height:${height}px;margin:${top - 1}px 0 ${-(top - 1 + height)}px ${left}px`});
      pin.appendChild(svg);
      box.insertBefore(pin, node);
    }

    drawContributions() {
      const node = this.views.contributions, spec = contributionsSpec(this.source, this.state);
      this.plot(node, spec);
      this.stamp(node);
      delete node.dataset.loading;
      Object.assign(node.dataset, spec.data);
    }

    drawHighlight() {
      const spec = highlightSpec(this.source, this.state);
      const text = el('div', {class: 'cv-hl-text', dir: 'auto'}, spec.pieces.map(piece => {
        if (piece.type === 'elided') return el('span', {class: 'cv-elide', text: piece.text});
        if (piece.type === 'gap') return el('span', {class: 'cv-gap', text: piece.text});
        const span = el('span', {class: ['cv-tok', `cv-${piece.kind}`, piece.match ? 'cv-win' : '', piece.chip ? 'cv-chip' : '']
          .join(' ').trim(), 'data-pos': piece.position, title: piece.title, text: piece.text});
        if (piece.background) span.style.background = piece.background;
        return span;
      }));
      const details = el('div', {class: 'cv-details', id: this.id('token-details'), role: 'status', hidden: true});
      text.addEventListener('click', e => {  // a tap shows what a hover shows (phones have no hover)
        const tok = e.target.closest('.cv-tok[data-pos]');
        if (!tok) return;
        for (const x of text.querySelectorAll('.cv-tapped')) x.classList.remove('cv-tapped');
        tok.classList.add('cv-tapped');
        details.textContent = tok.title;
        details.hidden = false;
      });
      const box = el('div', {class: 'cv-highlight', 'data-dimension': spec.data.dimension,
        'data-document': spec.data.document, 'data-score': spec.data.score, 'data-tokens': spec.data.tokens},
      el('div', {class: 'cv-hl-title', text: spec.title}),
      spec.notes.map(n => el('div', {class: 'cv-note', text: n})), text, details,
      el('div', {class: 'cv-legend'}, el('span', {class: 'cv-tok', style: 'background:rgba(255,153,0,0.8)', text: 'shade'}),
        ' best similarity to any query token · ', el('span', {class: 'cv-tok cv-win', text: 'outlined'}),
        ' a query token\'s MaxSim match · ', el('span', {class: 'cv-tok cv-skipped', text: 'grey'}),
        ' skipped punctuation (not scored) · hover or tap a token for details'));
      this.views.highlight.replaceChildren(box);
      this.stamp(this.views.highlight);
      delete this.views.highlight.dataset.loading;
    }

    drawPair() {
      const s = this.state, node = this.views.difference;
      this.aSelect.value = String(s.a);
      this.bSelect.value = String(s.b);
      Object.assign(node.dataset, {a: select.label(this.source, s.a), b: select.label(this.source, s.b),
        dimension: s.dim, storage: s.storage});
      if (!this.ready([s.a, s.b])) {
        this.purge(node);
        node.replaceChildren(loading(this.fetchError || 'Loading…'));
        this.views.differenceTable.replaceChildren();
        return;
      }
      const spec = pairSpec(this.source, s);
      this.pairNote.textContent = spec.note;
      this.plot(node, spec);
      node.dataset.total = spec.data.total;
      this.views.differenceTable.replaceChildren(tableEl(spec.table));
    }
  }

  const api = {
    version: 2,
    Explorer,
    mount(root, payload, options) { return new Explorer(root, payload, options); },
    // the pure parts, for tests and readers
    EXACT, RETRIES, initialState, update, affected, arrived, DataSource,
    views: {scoredQuery, menuOptions, rankingTable, unavailable, storageInfo, storageTable, dimensionTables, changesTable,
      shown,
      heatmapSpec, cellText, contributionsSpec, highlightSpec, pairSpec, wrapTitle},
  };
  global.ColbertViz = api;
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
})(typeof window !== 'undefined' ? window : globalThis);
