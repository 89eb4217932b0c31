// The shared payload fixture (tests/fixtures/payload.json, made by tests/payload_fixture.py) and the renderer.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ColbertViz = require('../../colbert_viz/explorer/static/explorer.js');

/** A fresh copy of the fixture, frozen all the way down: a builder that writes into it throws. */
function payload() {
  const data = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'payload.json'), 'utf8'));
  const freeze = x => { if (x && typeof x === 'object') { Object.values(x).forEach(freeze); Object.freeze(x); } return x; };
  return freeze(data);
}

/** A base64 float32 field as numbers. */
function floats(b64) {
  const bytes = Buffer.from(b64, 'base64');
  return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
}

function setup(changes) {
  const p = payload();
  const source = new ColbertViz.DataSource(p);
  const state = ColbertViz.update(ColbertViz.initialState(p, null, source.storable()), changes || {});
  return {p, source, state};
}

module.exports = {ColbertViz, payload, floats, setup};
