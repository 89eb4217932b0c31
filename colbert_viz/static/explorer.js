/* colbert-viz explorer: draws every view of a Run from one payload (colbert_viz/explorer.py).
 *
 * The same file runs in the Gradio page, in notebooks and in the exported standalone HTML.
 * It only selects, filters and draws: every number comes from the payload. User text is put
 * in the page with textContent / setAttribute (never innerHTML), isolated for bidi, and escaped
 * for plotly labels.
 *
 *   ColbertViz.mount(element, payload, {ids, fetchDocument, onExport, initial}) -> explorer
 *   (initial: the state to open on, e.g. an exported view; what the payload cannot show is left out)
 *   explorer.set({dim, doc, a, b, hideExpansion, hideSpecial, merge, raw, start})
 */
(function (global) {
  'use strict';

  const KIND_COLORS = {text: '#2f6db5', special: '#8e5bb5', marker: '#8e5bb5', expansion: '#9aa4b1',
    skipped: '#bdbdbd', typed: '#c2410c'};
  const A_COLOR = '#1b9e77', B_COLOR = '#d95f02';
  const SKIPPED_SCALE = [[0, '#f1f1f1'], [1, '#8c8c8c']];
  const FONT = {family: 'Inter, system-ui, sans-serif', size: 12};
  const ROW_PX = 18, COLUMN_PX = 12, WIDE_FROM = 80;
  const SPECIAL_KINDS = ['special', 'marker'];
  const ISOLATE = s => '\u2068' + s + '\u2069';
  const EXACT = 'float32';  // FSI … PDI: bidi controls inside cannot leak out

  // ---- small helpers -------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  function bdi(text) { return el('bdi', {dir: 'auto', text: text}); }

  /** Text for plotly labels, which read a little HTML: escape it, isolate it. */
  function plotlyText(s) {
    return ISOLATE(String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
  }

  const decoded = new WeakMap();
  /** A base64 little-endian float32 string → Float32Array (decoded once per holder+key). */
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

  function table(columns, rows, attrs) {
    return el('table', Object.assign({class: 'cv-table'}, attrs || {}),
      el('thead', {}, el('tr', {}, columns.map(c => el('th', {text: c})))),
      el('tbody', {}, rows.map(r => el('tr', {}, r.map(c => el('td', {}, c instanceof Node ? c : bdi(String(c))))))));
  }

  // ---- the explorer --------------------------------------------------------------------

  class Explorer {
    constructor(root, payload, options) {
      this.root = root;
      this.p = payload;
      this.o = Object.assign({ids: false, fetchDocument: null, fetchStorage: null, onExport: null}, options || {});
      this.Plotly = this.o.plotly || global.Plotly;
      this.pending = {};
      this.failed = {};
      this.deferred = new Set();
      root.__colbertViz = this;  // a later mount on the same element retires this one
      const dims = payload.model.dimensions;
      const order = payload.rankings[String(dims[0])].order;
      this.state = Object.assign({dim: dims[0], storage: EXACT, doc: order[0], a: order[0],
        b: order[Math.min(1, order.length - 1)], hideExpansion: false, hideSpecial: false, merge: false, raw: false,
        start: 0}, this.showable(this.o.initial || {}));
      this.build();
      this.draw(['all']);
    }

    id(name) { return this.o.ids ? name : null; }

    /** The parts of a state (``initial``) this payload can show. */
    showable(s) {
      const p = this.p, out = {};
      const isDoc = i => Number.isInteger(i) && i >= 0 && i < p.documents.length;
      if (p.model.dimensions.includes(s.dim)) out.dim = s.dim;
      if (s.storage === EXACT || ((p.storage || this.o.fetchStorage) && (p.storage_methods || []).includes(s.storage))) {
        out.storage = s.storage;
      }
      for (const k of ['doc', 'a', 'b']) if (isDoc(s[k])) out[k] = s[k];
      for (const k of ['hideExpansion', 'hideSpecial', 'merge']) if (typeof s[k] === 'boolean') out[k] = s[k];
      return out;
    }

    live() { return this.root.__colbertViz === this; }

    // ---- data access ----

    /** Exact vectors, or a storage method of colbert_viz.storage (int8, binary, pool-2, …). */
    stored() { return this.state.storage !== EXACT; }
    pooled() { return this.state.storage.startsWith('pool-'); }
    settingId(dim) { return `${dim === undefined ? this.state.dim : dim}/${this.state.storage}`; }
    ranking(dim) {
      const d = String(dim === undefined ? this.state.dim : dim);
      return this.stored() ? this.p.storage.rankings[this.settingId(d)] : this.p.rankings[d];
    }
    exactRanking() { return this.p.rankings[String(this.p.model.native_dim)]; }
    variantName() { return this.state.merge && !this.pooled() ? 'words' : 'tokens'; }
    queryAxis() { return this.p.query.axes[this.variantName()]; }
    exactViews(i) { return this.p.views[String(i)] || null; }
    docViews(i) {
      if (!this.stored()) return this.exactViews(i);
      return ((this.p.stored || {})[this.state.storage] || {})[String(i)] || null;
    }
    variant(i) { const v = this.docViews(i); return v ? v.variants[this.variantName()] : null; }
    exactVariant(i) { const v = this.exactViews(i); return v ? v.variants[this.variantName()] : null; }
    dimView(i) { const v = this.variant(i); return v ? v.dims[String(this.state.dim)] : null; }
    /** The document axis: exact tokens or words, or the items a storage method keeps (per dimension). */
    axisOf(i) { return this.dimView(i).axis || this.variant(i).axis; }
    label(i) { return this.p.documents[i].label; }

    /** Ask for a document's views when the payload left them out (a large Run). */
    need(indices) {
      if (this.stored() && !this.needStorage()) return false;
      let ready = true;
      for (const i of indices) {
        if (!this.exactViews(i)) ready = this.fetch('document', i, EXACT) && ready;
        if (this.stored() && !this.docViews(i)) ready = this.fetch('document', i, this.state.storage) && ready;
      }
      return ready;
    }

    /** The storage summary (rankings and the decision table): here, or asked for. */
    needStorage() {
      if (this.p.storage) {
        if (this.p.storage.error) this.fetchError = this.p.storage.error;
        return !this.p.storage.error;
      }
      return this.fetch('storage', null, null);
    }

    /** Ask the server once for something the payload left out; redraw when it comes. Always false. */
    fetch(what, i, method) {
      const key = `${what}:${i}:${method}`;
      const fetcher = what === 'storage' ? this.o.fetchStorage : this.o.fetchDocument;
      if (this.failed[key]) { this.fetchError = this.failed[key]; return false; }
      if (!fetcher) { this.fetchError = 'These views are not in this file.'; return false; }
      if (this.pending[key]) return false;
      this.pending[key] = Promise.resolve(what === 'storage' ? fetcher() : fetcher(i, method))
        .then(data => { if (!this.receive(what, i, method, data)) this.failed[key] = (data && data.error) || 'Could not be loaded.'; })
        .catch(err => { this.failed[key] = String(err && err.message || err); })
        .finally(() => { delete this.pending[key]; if (this.live()) this.draw(['all']); });
      return false;
    }

    /** Keep what the server sent; false if it is not what was asked for. */
    receive(what, i, method, data) {
      // A storage summary that could not be computed (a Run over the storage limits) is kept: it says why.
      if (what === 'storage' && data && data.methods) { this.p.storage = data; return !data.error; }
      if (!data || data.error) return false;
      if (data.index !== i) return false;
      if (method === EXACT) this.p.views[String(i)] = data;
      else ((this.p.stored ||= {})[method] ||= {})[String(i)] = data;
      return true;
    }

    // ---- layout ----

    build() {
      const p = this.p, m = p.model;
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
        'aria-label': 'Document', onchange: e => this.pick(Number(e.target.value))});
      this.aSelect = el('select', {id: this.id('doc-a'), class: 'cv-select', 'aria-label': 'Document A',
        onchange: e => this.set({a: Number(e.target.value)})});
      this.bSelect = el('select', {id: this.id('doc-b'), class: 'cv-select', 'aria-label': 'Document B',
        onchange: e => this.set({b: Number(e.target.value)})});
      this.rawInput = el('input', {type: 'checkbox', onchange: e => this.set({raw: e.target.checked})});
      this.startInput = el('input', {type: 'range', min: 0, max: 1, step: 1, value: 0,
        oninput: e => this.set({start: Number(e.target.value), raw: true})});
      this.startValue = el('span', {class: 'cv-small'});
      const nativeNote = m.dimensions.length > 1
        ? `${m.native_dim} is native; ${m.dimensions.slice(1).join(' and ')} keep the first dimensions, re-normalised. Every view follows, without encoding again.`
        : `${m.native_dim} dimensions.`;
      // Storage methods: when their views are here (a file, a notebook) or can be asked for (the page).
      const methods = (p.storage || this.o.fetchStorage) ? p.storage_methods || [] : [];
      this.storageSelect = el('select', {class: 'cv-select', 'aria-label': 'Storage',
        onchange: e => this.set({storage: e.target.value})},
        methods.map(name => el('option', {value: name, text: name === EXACT ? 'exact (float32)' : name})));
      this.storageInfo = el('span', {class: 'cv-small cv-storage-info', id: this.id('storage-info')});
      const bar = el('div', {class: 'cv-bar'},
        el('fieldset', {class: 'cv-dims', id: this.id('dimension'), hidden: m.dimensions.length < 2},
          el('legend', {text: 'Dimensions'}), dims, el('span', {class: 'cv-small', text: nativeNote})),
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
          el('h3', {text: 'Ranking'}), this.scoredQuery(),
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

    /** The query as the model scored it: its tokens (expansion tokens as one "× n" item) and the
     *  payload's note (its length, any cut, the expansion tokens it got). */
    scoredQuery() {
      const q = this.p.query, axis = q.axes.tokens, scored = q.scored;
      if (!scored) return '';
      const chips = [];
      axis.labels.forEach((label, k) => {
        const kind = axis.kinds[k];
        if (kind === 'expansion' && k > 0 && axis.kinds[k - 1] === 'expansion') return;
        let n = 1;
        while (kind === 'expansion' && axis.kinds[k + n] === 'expansion') n++;
        chips.push(el('span', {class: `cv-qtok cv-${kind}`, text: n > 1 ? `${label} × ${n}` : label}), ' ');
      });
      return el('div', {class: 'cv-query', id: this.id('scored-query'), 'data-tokens': scored.tokens,
        'data-dropped': scored.dropped, 'data-expansion': scored.expansion},
        el('b', {text: 'Scored query '}), el('span', {class: 'cv-qtoks', dir: 'auto'}, chips),
        el('div', {class: scored.truncated ? 'cv-note' : 'cv-small', text: scored.note}));
    }

    // ---- state changes ----

    /** Change any part of the state and redraw what depends on it. */
    set(changes) {
      const before = Object.assign({}, this.state);
      Object.assign(this.state, changes);
      const s = this.state, changed = k => before[k] !== s[k];
      if (changed('doc') || changed('merge') || changed('hideSpecial')) {
        if (!('raw' in changes)) s.raw = false;
        if (!('start' in changes)) s.start = 0;
      }
      const what = [];
      if (changed('dim') || changed('storage')) what.push('all');
      if (['doc', 'merge', 'hideExpansion', 'hideSpecial', 'raw', 'start'].some(changed)) what.push('document');
      if (['a', 'b', 'merge'].some(changed)) what.push('pair');
      if (changed('doc')) what.push('rankingSelection');
      this.draw(what);
    }

    pick(doc) { this.set({doc: doc}); }

    /** Redraw what ``what`` names. The heatmap (and the cheap tables) are drawn at once; the other
     *  charts follow in the next frame, so the view the user looks at changes first.
     *  ``root.dataset.pending`` is "1" until everything is drawn. */
    draw(what) {
      const all = what.includes('all');
      this.syncControls();
      if (all && !this.rankingReady()) {
        this.deferred.clear();  // views of the state before: all of it is drawn again when the storage summary comes
        this.drawStorageInfo();
        this.views.ranking.replaceChildren(el('p', {class: 'cv-small cv-loading', text: this.fetchError ||
          `Storing the documents as ${this.state.storage} at every dimension…`}));
        return;
      }
      if (all) { this.drawRanking(); this.drawMenus(); this.drawDimensionTables(); this.drawStorageInfo(); this.drawStorageTable(false); }
      else if (what.includes('rankingSelection')) this.markSelectedRow();
      if (all || what.includes('document')) {  // views still on their way: drawn when they come, not before
        const ready = this.drawDocument();
        ['contributions', 'highlight', 'changes'].forEach(x => (ready ? this.deferred.add(x) : this.deferred.delete(x)));
      }
      if (what.length === 1 && what[0] === 'pair') this.drawPair();  // A or B alone: draw it now
      else if (all || what.includes('pair')) this.deferred.add('pair');
      this.root.dataset.dimension = this.state.dim;
      this.root.dataset.document = this.state.doc;
      this.schedule();
    }

    schedule() {
      if (!this.deferred.size || this.scheduled) return;
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
        this.root.dataset.pending = '0';
      };
      if (global.requestAnimationFrame) global.requestAnimationFrame(() => setTimeout(flush, 0));
      setTimeout(flush, 100);  // a hidden page has no animation frames
    }

    /** Tag a view with what it shows, for readers and tests. */
    stamp(node) {
      node.dataset.document = this.label(this.state.doc);
      node.dataset.dimension = this.state.dim;
      node.dataset.merge = this.variantName();
      node.dataset.storage = this.state.storage;
    }

    /** Whether the current setting's ranking is here (a storage method's comes with the storage summary). */
    rankingReady() { return !this.stored() || this.needStorage(); }

    syncControls() {
      const s = this.state;
      if (this.storageSelect) this.storageSelect.value = s.storage;
      this.inputs.merge.disabled = this.pooled();
      this.inputs.merge.parentElement.title = this.pooled() ? 'A pooled vector already stands for several tokens: ' +
        'sub-words are not merged under pooling.' : '';
      for (const input of this.dimInputs) input.checked = Number(input.value) === s.dim;
      for (const [k, input] of Object.entries(this.inputs)) input.checked = !!s[k];
      this.rawInput.checked = s.raw;
    }

    // ---- views ----

    menuOptions(select, value) {
      const r = this.ranking();
      select.replaceChildren(...r.order.map(i => el('option', {value: i,
        text: `${this.label(i)} · #${r.ranks[i]} · ${ISOLATE(this.p.documents[i].menu)}`})));
      select.value = String(value);
    }

    drawMenus() {
      this.menuOptions(this.docSelect, this.state.doc);
      this.menuOptions(this.aSelect, this.state.a);
      this.menuOptions(this.bSelect, this.state.b);
    }

    drawRanking() {
      const p = this.p, dim = this.state.dim, r = this.ranking();
      const others = p.model.dimensions.filter(d => d !== dim);
      const n = p.top_n ? Math.min(p.top_n, r.order.length) : r.order.length;
      const stored = this.stored(), exact = this.exactRanking();
      const columns = ['Rank', 'Doc', 'Score', 'Per query token', ...others.map(d => `Rank @${d}`),
        ...(stored ? ['Exact rank', 'Stored bytes'] : []), 'Tokens', 'Preview'];
      const rows = r.order.slice(0, n).map((i, k) => {
        const tr = el('tr', {'data-doc': i, tabindex: 0, class: 'cv-row',
          onclick: () => this.pick(i), onkeydown: e => { if (e.key === 'Enter') this.pick(i); }},
          el('td', {text: String(k + 1)}), el('td', {text: String(i + 1)}),
          el('td', {class: 'cv-num', text: fixed(r.scores[i], 2)}),
          el('td', {class: 'cv-num', text: fixed(r.per_token[i], 3)}),
          others.map(d => el('td', {text: String(this.ranking(d).ranks[i])})),
          stored ? [el('td', {class: exact.ranks[i] !== r.ranks[i] ? 'cv-moved' : '',
            text: `${exact.ranks[i]}${moved(exact.ranks[i] - r.ranks[i])}`}),
          el('td', {class: 'cv-num', text: `${Math.round(r.bytes_per_document[i]).toLocaleString('en')}${r.rescored.includes(i) ? ' · rescored' : ''}`})] : [],
          el('td', {text: p.documents[i].tokens}),
          el('td', {class: 'cv-preview'}, bdi(p.documents[i].preview)));
        return tr;
      });
      const tableEl = el('table', {class: 'cv-table cv-clickable', 'data-dimension': dim},
        el('thead', {}, el('tr', {}, columns.map(c => el('th', {text: c})))), el('tbody', {}, rows));
      const note = n < r.order.length ? el('p', {class: 'cv-small',
        text: `Showing the top ${n} of ${r.order.length} documents (top n).`}) : null;
      this.views.ranking.replaceChildren(tableEl, note || '');
      this.views.ranking.dataset.dimension = dim;
      this.views.ranking.dataset.storage = this.state.storage;
      this.markSelectedRow();
    }

    markSelectedRow() {
      for (const tr of this.views.ranking.querySelectorAll('tr[data-doc]')) {
        tr.classList.toggle('cv-selected', Number(tr.dataset.doc) === this.state.doc);
      }
      this.docSelect.value = String(this.state.doc);
    }

    /** The storage row of the decision table for ``id`` (e.g. "64/int8"). */
    storageRow(id) { return this.p.storage && this.p.storage.table ? this.p.storage.table.find(r => r.setting === id) : null; }

    drawStorageInfo() {
      if (!this.storageInfo) return;
      const row = this.storageRow(this.settingId()), exact = this.storageRow(this.p.storage ? this.p.storage.exact : '');
      if (!row || !exact) {
        this.storageInfo.textContent = this.stored() ? '' : 'exact float32: the vectors as encoded.';
        return;
      }
      const bytes = r => `${r.bytes_per_token.toLocaleString('en', {maximumFractionDigits: 1})} B per token · ` +
        `${Math.round(r.bytes_per_document).toLocaleString('en')} B per document`;
      this.storageInfo.textContent = `${row.setting}: ${bytes(row)} (exact ${exact.setting}: ${bytes(exact)}) · ` +
        `Kendall tau vs exact ${fixed(row.kendall_tau, 3)} · largest rank change ${row.largest_rank_change} · ` +
        `largest score change ${fixed(row.largest_score_change, 3)}`;
    }

    /** The decision table: every storage setting × dimension (fetched when first opened in the page). */
    drawStorageTable(force) {
      const node = this.views.storageTable;
      if (!node) return;
      if (!this.p.storage) {
        if (!force && !node.parentElement.open) return;
        if (!this.needStorage() && this.failed['storage:null:null']) {
          node.replaceChildren(el('p', {class: 'cv-note', text: this.failed['storage:null:null']}));
          return;
        }
        node.replaceChildren(el('p', {class: 'cv-small cv-loading', text: 'Storing the documents every way at every dimension…'}));
        return;
      }
      if (this.p.storage.error) { node.replaceChildren(el('p', {class: 'cv-note', text: this.p.storage.error})); return; }
      const current = this.settingId();
      const rows = this.p.storage.table.map(r => {
        const [dim, method] = r.setting.split('/');
        return el('tr', {class: 'cv-row' + (r.setting === current ? ' cv-selected' : ''), 'data-setting': r.setting,
          tabindex: 0, onclick: () => this.set({dim: Number(dim), storage: method})},
          el('td', {text: r.setting}), el('td', {class: 'cv-num', text: r.bytes_per_token.toLocaleString('en', {maximumFractionDigits: 1})}),
          el('td', {class: 'cv-num', text: Math.round(r.bytes_per_document).toLocaleString('en')}),
          el('td', {class: 'cv-num', text: fixed(r.stored_vectors_per_document, 1)}),
          el('td', {class: 'cv-num', text: fixed(r.kendall_tau, 3)}),
          el('td', {class: 'cv-num', text: String(r.largest_rank_change)}),
          el('td', {class: 'cv-num', text: fixed(r.largest_score_change, 3)}),
          el('td', {class: 'cv-nowrap', text: [r.shared_bytes ? `${r.shared_bytes.toLocaleString('en')} B shared` : '', r.keeps_originals ? 'keeps the originals' : ''].filter(Boolean).join(' · ')}));
      });
      node.replaceChildren(el('table', {class: 'cv-table cv-clickable'},
        el('thead', {}, el('tr', {}, ['Setting', 'Bytes/token', 'Bytes/document', 'Vectors/document', 'Kendall tau',
          'Largest rank change', 'Largest score change', 'Notes'].map(c => el('th', {text: c})))),
        el('tbody', {}, rows)));
    }

    /** The rankings at every dimension and Kendall tau between them, under the storage setting. */
    drawDimensionTables() {
      const p = this.p, dims = p.model.dimensions, storage = this.state.storage;
      const order = dims.map(d => this.ranking(d).order);
      const rows = order[0].map((_, k) => [String(k + 1),
        ...dims.map((d, j) => `${this.label(order[j][k])} · ${fixed(this.ranking(d).scores[order[j][k]], 2)}`)]);
      this.views.dimensionTable.replaceChildren(table(['Rank', ...dims.map(d => `${d} dims`)], rows));
      const tau = this.stored() ? p.storage.tau[storage] : p.tau;
      this.views.tau.replaceChildren(tau.length ? table(['Dimensions', 'Kendall tau'],
        tau.map(t => [`${t.a} vs ${t.b}`, fixed(t.tau, 3)])) : el('p', {class: 'cv-small', text: 'One dimension only.'}));
      this.views.dimensionTable.dataset.storage = this.views.tau.dataset.storage = storage;
    }

    /** Positions of a view's rows or columns after the hide toggles. */
    shown(axis, isQuery) {
      const s = this.state, out = [];
      axis.kinds.forEach((k, i) => {
        if (isQuery && s.hideExpansion && k === 'expansion') return;
        if (s.hideSpecial && SPECIAL_KINDS.includes(k)) return;
        out.push(i);
      });
      return out;
    }

    /** The selected document's heatmap now; false while its views are still on their way. */
    drawDocument() {
      const i = this.state.doc, views = this.views;
      this.docSelect.value = String(i);
      if (!this.need([i])) {
        const text = this.fetchError || `Loading the views of ${this.label(i)}…`;
        this.message.textContent = text;
        for (const name of ['heatmap', 'contributions', 'highlight']) {
          this.purge(views[name]);
          views[name].replaceChildren(el('p', {class: 'cv-small cv-loading', text: text}));
          this.stamp(views[name]);
          views[name].dataset.loading = '1';
        }
        return false;
      }
      this.message.textContent = '';
      this.fetchError = null;
      this.drawHeatmap();
      return true;
    }

    drawChanges() {
      const i = this.state.doc, mc = this.docViews(i).match_changes;  // across dimensions, under the storage setting
      this.views.changes.replaceChildren(mc.rows.length ? table(mc.columns, mc.rows)
        : el('p', {class: 'cv-small', text: `${this.label(i)}: every query token keeps its best match at every dimension.`}));
      this.stamp(this.views.changes);
    }

    purge(node) { if (this.Plotly && node.classList.contains('js-plotly-plot')) this.Plotly.purge(node); }

    plot(node, traces, layout) {
      node.querySelectorAll(':scope > p').forEach(x => x.remove());
      this.wrapTitle(layout, (node.parentElement || node).clientWidth || 0);
      this.Plotly.react(node, traces, layout, {displaylogo: false, responsive: false,
        modeBarButtonsToRemove: ['lasso2d', 'select2d', 'autoScale2d'],
        toImageButtonOptions: {filename: 'colbert-viz'}});
    }

    /** Break the title and subtitle into lines that fit ``width`` px (a phone; the visible part of a
     *  wide chart), growing the top margin by the lines added. */
    wrapTitle(layout, width) {
      if (!width) return;
      const lines = (text, px) => {
        const max = Math.max(12, Math.floor((width - 16) / px)), out = [];
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
      const extra = 26 * (title.length - 1) + 19 * (sub.length - 1);
      if (extra) {
        layout.margin.t += extra;
        layout.height += extra;
      }
    }

    subtitle(i, withScore) {
      const view = this.dimView(i);
      return [plotlyText(this.label(i)), `${this.state.dim} dimensions`].concat(this.stored() ? [this.state.storage] : [],
        withScore ? [`score ${fixed(view.score, 2)}`] : []).join(' · ');
    }

    /** The heatmap's columns: every shown item, a raw window of them, or the folded match view. */
    heatColumns(variant, view, rows) {
      const s = this.state, limit = this.p.limits.columns;
      const axis = view.axis || variant.axis;
      const positions = this.shown(axis, false);
      const long = positions.length > limit;
      const fold = view.folds && view.folds[`${+s.hideExpansion}${+s.hideSpecial}`];
      if (long && !s.raw && fold) {
        const z = f32(fold, 'z');
        return {long, rows: fold.rows, columns: fold.columns.map(([start, end, count, gap], c) =>
          ({start, end, count, gap: !!gap, value: k => { const v = z[k * fold.columns.length + c]; return Number.isNaN(v) ? null : v; }}))};
      }
      let chosen = positions, used = null;
      if (long) {
        let first = positions.findIndex(x => x >= s.start);
        if (first < 0) first = positions.length;
        first = Math.max(0, Math.min(first, positions.length - limit));
        chosen = positions.slice(first, first + limit);
        used = chosen.length ? chosen[0] : 0;
      }
      const sim = f32(view, 'sim'), n = axis.labels.length;
      return {long, used, rows, columns: chosen.map(x => ({start: x, end: x, count: 1, gap: false,
        value: (k, r) => sim[r * n + x]}))};
    }

    drawHeatmap() {
      const s = this.state, i = s.doc, variant = this.variant(i), view = this.dimView(i);
      const q = this.queryAxis(), d = this.axisOf(i);
      const layoutRows = this.shown(q, true);
      const h = this.heatColumns(variant, view, layoutRows);
      const rows = h.rows, cols = h.columns;
      const yKeys = rows.map(r => `#${r} ${plotlyText(q.labels[r])}`);
      const xKeys = cols.map(c => c.gap ? `${c.count} tokens #${c.start}–#${c.end}` : `#${c.start} ${plotlyText(d.labels[c.start])}`);
      const isSkipped = c => !c.gap && d.kinds[c.start] === 'skipped';
      const z = rows.map((r, k) => cols.map(c => isSkipped(c) ? null : c.value(k, r)));
      const zSkipped = rows.map((r, k) => cols.map(c => isSkipped(c) ? c.value(k, r) : null));
      const [zmin, zmax] = this.p.zrange[String(s.dim)];
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
      const best = view.best, bestSim = f32(view, 'best_sim');
      const marks = rows.map((r, k) => [k, columnOf.get(best[r])]).filter(([, c]) => c !== undefined && c >= 0);
      if (marks.length) {
        traces.push({type: 'scatter', mode: 'markers', name: 'best match', x: marks.map(([, c]) => xKeys[c]),
          y: marks.map(([k]) => yKeys[k]), customdata: marks.map(([k]) => bestSim[rows[k]]),
          marker: {symbol: 'square-open', size: 11, color: '#e8112d', line: {width: 2}},
          hovertemplate: 'query %{y}<br>best match %{x}<br>similarity %{customdata:.3f}<extra></extra>'});
      }
      const nDoc = d.labels.length;
      let title = 'Similarity of every query token to every document token';
      if (h.used !== null && h.used !== undefined) title = `Similarity: raw window from token ${h.used} (${cols.length} of ${nDoc} items)`;
      else if (cols.some(c => c.gap)) title = `Similarity: windows around the best matches (${nDoc} items, runs collapsed)`;
      const layout = this.layout(title, this.subtitle(i, true), 200 + ROW_PX * rows.length);
      if (cols.length > WIDE_FROM) Object.assign(layout, {width: 220 + COLUMN_PX * cols.length, autosize: false});
      layout.xaxis = {type: 'category', categoryorder: 'array', categoryarray: xKeys, tickvals: xKeys,
        ticktext: cols.map(c => c.gap ? `<i>… ${c.count} tokens</i>` : tickLabel(d.labels[c.start], d.kinds[c.start])),
        tickangle: -60, tickfont: {size: 10}, showgrid: false};
      layout.margin = this.margins(rows.map(r => q.labels[r]), cols.map(c => c.gap ? `… ${c.count} tokens` : d.labels[c.start]));
      layout.margin.t += 44;  // the colour bar, above the cells, from the left edge (seen before any scrolling)
      const width = layout.width || this.views.heatmap.parentElement.clientWidth || 800;
      const cells = width - layout.margin.l - layout.margin.r;
      Object.assign(traces[0].colorbar, {x: cells > 0 ? -(layout.margin.l - 8) / cells : 0, len: Math.min(200, width - 80)});
      layout.yaxis = {type: 'category', categoryorder: 'array', categoryarray: yKeys, tickvals: yKeys,
        autorange: 'reversed', showgrid: false, ticktext: rows.map(r => tickLabel(q.labels[r], q.kinds[r]))};
      this.plot(this.views.heatmap, traces, layout);
      const node = this.views.heatmap;
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
      node.dataset.columns = cols.length;
      node.dataset.rows = rows.length;
      node.dataset.title = title;
      node.dataset.score = view.score;
      this.windowRow.hidden = !h.long;
      if (h.long) {
        this.startInput.max = Math.max(1, nDoc - this.p.limits.columns);
        this.startInput.value = s.start;
        this.startValue.textContent = ` ${s.start}`;
      }
    }

    /** The details of the heatmap cell under a click or tap, in words, below the heatmap. */
    showCell(node, ev) {
      const area = node.querySelector('.nsewdrag'), traces = node.data;
      if (!area || !traces || !traces.length) return;
      const r = area.getBoundingClientRect(), t = traces[0];
      const col = Math.floor((ev.clientX - r.left) / (r.width / t.x.length));
      const row = Math.floor((ev.clientY - r.top) / (r.height / t.y.length));
      if (!(col >= 0 && col < t.x.length && row >= 0 && row < t.y.length)) return;
      const skipped = traces.find(x => x.name === 'skipped');
      const value = t.z[row][col] ?? (skipped ? skipped.z[row][col] : null);
      if (value === null || value === undefined) return;
      const strip = s => String(s).replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
      this.cellDetails.textContent = `query ${strip(t.y[row])} · document ${strip(t.x[col])} · similarity ${fixed(value, 3)}` +
        (t.z[row][col] === null ? ' · skipped: punctuation is not scored' : '');
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

    /** Margins that fit the tick labels (computed here: plotly's automargin costs a second layout pass). */
    margins(yLabels, xLabels) {
      const longest = labels => labels.reduce((m, l) => Math.max(m, Math.min(18, String(l).length)), 0);
      const m = {l: 24 + 7 * longest(yLabels), r: 10, t: 72, b: 10};
      if (xLabels) m.b = 20 + Math.round(6 * 0.87 * longest(xLabels));
      return m;
    }

    layout(title, subtitle, height) {
      return {title: {text: title, subtitle: {text: subtitle}, x: 0.005, xanchor: 'left', y: 1, yref: 'container',
        yanchor: 'top', pad: {t: 12}}, font: FONT, height: height,
        margin: {l: 10, r: 10, t: 72, b: 10}, plot_bgcolor: 'white', showlegend: false, autosize: true};
    }

    drawContributions() {
      const i = this.state.doc, view = this.dimView(i), q = this.queryAxis(), d = this.axisOf(i);
      const keys = q.labels.map((l, k) => `#${k} ${plotlyText(l)}`);
      const matched = view.best.map(j => plotlyText(d.labels[j]));
      const total = view.score;
      const layout = this.layout(`Contributions: total ${fixed(total, 2)} = the score`, this.subtitle(i, false),
        150 + ROW_PX * q.labels.length);
      layout.bargap = 0.25;
      layout.yaxis = {type: 'category', categoryorder: 'array', categoryarray: keys, tickvals: keys, autorange: 'reversed',
        ticktext: q.labels.map((l, k) => tickLabel(l, q.kinds[k]))};
      layout.xaxis = {title: {text: 'similarity of the best match (cosine)'}, zeroline: true, gridcolor: '#eeeeee'};
      layout.margin = this.margins(q.labels);
      layout.margin.b = 50;
      this.plot(this.views.contributions, [{type: 'bar', orientation: 'h', x: view.contributions, y: keys,
        marker: {color: q.kinds.map(k => KIND_COLORS[k] || KIND_COLORS.text)},
        text: matched.map(m => `→ ${m}`), textposition: 'auto', insidetextanchor: 'end', customdata: matched,
        hovertemplate: 'query %{y}<br>best match %{customdata}<br>adds %{x:.3f}<extra></extra>'}], layout);
      this.views.contributions.dataset.total = total;
      this.stamp(this.views.contributions);
      delete this.views.contributions.dataset.loading;
      this.views.contributions.dataset.bars = view.contributions.length;
    }

    drawHighlight() {
      const s = this.state, i = s.doc, view = this.dimView(i), q = this.queryAxis();
      // The text is the exact document's; under a storage method each token takes its stored item's values.
      const exact = this.exactVariant(i), exactView = exact.dims[String(s.dim)], d = exact.axis;
      const items = this.axisOf(i), itemOf = new Map();
      if (this.pooled()) items.groups.forEach((g, k) => g.forEach(x => itemOf.set(x, k)));
      const item = pos => (itemOf.size ? itemOf.get(pos) : pos);
      const zrange = this.p.zrange[String(s.dim)];
      const closest = view.closest, closestSim = f32(view, 'closest_sim'), bestSim = f32(view, 'best_sim');
      const chosen = new Map();
      view.best.forEach((j, k) => { if (!chosen.has(j)) chosen.set(j, []); chosen.get(j).push(k); });
      const pieces = exactView.pieces || exact.pieces;
      const text = el('div', {class: 'cv-hl-text', dir: 'auto'});
      for (const piece of pieces) {
        if ('elide' in piece) { text.append(el('span', {class: 'cv-elide', text: `… ${piece.elide.toLocaleString('en')} tokens …`})); continue; }
        if (!('p' in piece)) { text.append(el('span', {class: 'cv-gap', text: piece.t})); continue; }
        const pos = piece.p, kind = d.kinds[pos], at = item(pos), by = chosen.get(at) || [];
        const lines = [`${d.labels[pos]}  (${this.variantName() === 'words' ? 'word' : 'token'} ${pos})`];
        if (itemOf.size && items.groups[at].length > 1) lines.push(`stored pooled with its neighbours as ${items.labels[at]}`);
        if (kind === 'skipped') lines.push('skipped: punctuation is not scored');
        if (kind === 'typed') lines.push(`typed in the text: parsed as the special token ${d.labels[pos]}, as the model's tokenizer does`);
        lines.push(`closest query token: ${q.labels[closest[at]]} (${fixed(closestSim[at], 3)})`);
        if (by.length) {
          const names = by.slice(0, 8).map(k => `${q.labels[k]} (${fixed(bestSim[k], 3)})`).join(', ');
          lines.push(`MaxSim match of: ${names}${by.length > 8 ? ` and ${by.length - 8} more` : ''}`);
        }
        // A bare word-boundary piece (▁) stands for the space before it: it takes that space from the gap.
        const space = piece.t === '' && !d.labels[pos].replace(/\u2581/g, '') && text.lastChild
          && text.lastChild.classList.contains('cv-gap') && text.lastChild.textContent.endsWith(' ');
        if (space) text.lastChild.textContent = text.lastChild.textContent.slice(0, -1);
        const chip = piece.t === '' && !space;
        const span = el('span', {class: ['cv-tok', `cv-${kind}`, by.length ? 'cv-win' : '', chip ? 'cv-chip' : ''].join(' ').trim(),
          'data-pos': pos, title: lines.join('\n'), text: space ? ' ' : chip ? d.labels[pos] : piece.t});
        if (kind !== 'skipped') span.style.background = shade(closestSim[at], zrange);
        text.append(span);
      }
      const notes = [];
      if (exactView.pieces) notes.push(`Long document: showing ${exactView.shown.toLocaleString('en')} of ${d.labels.length.toLocaleString('en')} items, around the best matches.`);
      if (this.p.documents[i].truncated) notes.push(`Truncated: the document was cut to ${this.p.documents[i].tokens}; the last ${this.exactViews(i).untokenized_tail.toLocaleString('en')} characters were not encoded and play no part in the score.`);
      if (this.stored()) notes.push(`Stored as ${s.storage}: the shades and outlines are the stored vectors' similarities${this.pooled() ? ' (a pooled vector shades every token it merged)' : ''}.`);
      const details = el('div', {class: 'cv-details', id: this.id('token-details'), role: 'status', hidden: true});
      text.addEventListener('click', e => {  // a tap shows what a hover shows (phones have no hover)
        const tok = e.target.closest('.cv-tok[data-pos]');
        if (!tok) return;
        for (const x of text.querySelectorAll('.cv-tapped')) x.classList.remove('cv-tapped');
        tok.classList.add('cv-tapped');
        details.textContent = tok.title;
        details.hidden = false;
      });
      const box = el('div', {class: 'cv-highlight', 'data-dimension': s.dim, 'data-document': this.label(i),
        'data-score': fixed(view.score, 4), 'data-tokens': d.labels.length},
        el('div', {class: 'cv-hl-title', text: `${this.label(i)} · ${s.dim} dimensions${this.stored() ? ` · ${s.storage}` : ''} · score ${fixed(view.score, 2)}`}),
        notes.map(n => el('div', {class: 'cv-note', text: n})), text, details,
        el('div', {class: 'cv-legend'}, el('span', {class: 'cv-tok', style: 'background:rgba(255,153,0,0.8)', text: 'shade'}),
          ' best similarity to any query token · ', el('span', {class: 'cv-tok cv-win', text: 'outlined'}),
          ' a query token\'s MaxSim match · ', el('span', {class: 'cv-tok cv-skipped', text: 'grey'}),
          ' skipped punctuation (not scored) · hover or tap a token for details'));
      this.views.highlight.replaceChildren(box);
      this.stamp(this.views.highlight);
      delete this.views.highlight.dataset.loading;
    }

    drawPair() {
      const s = this.state, a = s.a, b = s.b;
      this.aSelect.value = String(a);
      this.bSelect.value = String(b);
      const node = this.views.difference;
      node.dataset.a = this.label(a);
      node.dataset.b = this.label(b);
      node.dataset.dimension = s.dim;
      node.dataset.storage = s.storage;
      if (!this.need([a, b])) {
        this.purge(node);
        node.replaceChildren(el('p', {class: 'cv-small cv-loading', text: this.fetchError || 'Loading…'}));
        this.views.differenceTable.replaceChildren();
        return;
      }
      const va = this.dimView(a), vb = this.dimView(b), q = this.queryAxis();
      const da = this.axisOf(a), db = this.axisOf(b);
      const rows = q.labels.map((l, k) => ({k, label: l, ca: va.contributions[k], cb: vb.contributions[k],
        diff: va.contributions[k] - vb.contributions[k], ma: da.labels[va.best[k]], mb: db.labels[vb.best[k]]}));
      const total = va.score - vb.score;
      const la = plotlyText(this.label(a)), lb = plotlyText(this.label(b));
      const keys = rows.map(r => `#${r.k} ${plotlyText(r.label)}`);
      // The title's three numbers add up as shown: the difference is that of the rounded scores.
      const cents = x => Math.round(x * 100), shown = cents(va.score) - cents(vb.score);
      const title = a === b ? `${la} against itself: every difference is 0`
        : `Why ${la} ${total >= 0 ? 'above' : 'below'} ${lb}: ${fixed(cents(va.score) / 100, 2)} − ${fixed(cents(vb.score) / 100, 2)} = ${signed(shown / 100, 2)}`;
      this.pairNote.textContent = a === b ? 'Document A and document B are the same document: choose another B to see ' +
        'what separates two documents.' : '';
      const layout = this.layout(title, `right: the query token adds more to ${la}; left: more to ${lb} · ${s.dim} dimensions` +
        ' · the difference is that of the scores rounded to 2 decimals', 150 + ROW_PX * rows.length);
      layout.yaxis = {type: 'category', categoryorder: 'array', categoryarray: keys, tickvals: keys, autorange: 'reversed',
        ticktext: rows.map(r => tickLabel(r.label, q.kinds[r.k]))};
      layout.xaxis = {title: {text: `contribution to ${la} − contribution to ${lb}`}, zeroline: true, zerolinecolor: '#444', gridcolor: '#eeeeee'};
      layout.margin = this.margins(q.labels);
      layout.margin.b = 50;
      this.plot(node, [{type: 'bar', orientation: 'h', x: rows.map(r => r.diff), y: keys,
        marker: {color: rows.map(r => r.diff >= 0 ? A_COLOR : B_COLOR)},
        customdata: rows.map(r => [r.ca, r.cb, plotlyText(r.ma), plotlyText(r.mb)]),
        hovertemplate: `query %{y}<br>${la}: %{customdata[0]:.3f} (→ %{customdata[2]})<br>${lb}: %{customdata[1]:.3f} (→ %{customdata[3]})<br>difference %{x:+.3f}<extra></extra>`}],
        layout);
      node.dataset.total = total;
      const A = this.label(a), B = this.label(b);
      const sorted = rows.slice().sort((x, y) => Math.abs(y.diff) - Math.abs(x.diff));
      this.views.differenceTable.replaceChildren(table(
        ['Query token', `${A} adds`, `${A} match`, `${B} adds`, `${B} match`, `${A} − ${B}`],
        sorted.map(r => [`${r.label} (#${r.k})`, fixed(r.ca, 3), r.ma, fixed(r.cb, 3), r.mb, fixed(r.diff, 3)])));
    }
  }

  global.ColbertViz = {
    version: 1,
    Explorer: Explorer,
    mount(root, payload, options) { return new Explorer(root, payload, options); },
  };
})(typeof window !== 'undefined' ? window : globalThis);
