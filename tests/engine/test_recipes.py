"""Any late-interaction checkpoint by its recipe, equal to the reference.

Random-weight checkpoints written at test time in each ecosystem's own layout
(``tests/recipe_checkpoints.py``: PyLate 1.6, Stanford ColBERT, Sentence Transformers 6.2 saves; BERT and
ModernBERT backbones) are loaded by ``colbert_viz.load`` and by sentence-transformers 6.2's
``MultiVectorEncoder`` (and, for PyLate folders, by PyLate's own encode code). For each, on the same texts:
the token ids fed to the model, the positions scored, the scored vectors (1e-5) and the MaxSim scores agree.
The texts include the odd ones users bring: one token, punctuation only, right-to-left, markup, a typed
marker, upper case, and texts longer than the recipe's lengths.
"""

from __future__ import annotations

import numpy as np
import pytest

import colbert_viz
from colbert_viz.maths.scoring import maxsim_scores
from tests import recipe_checkpoints as rc

QUERIES = [
    "What is the population of Berlin?",
    "x",
    "UPPER case QUERY, with punctuation!!!",
    "a " * 40 + "very long query that runs past every query length",
    "[Q] typed marker and [MASK] typed mask",
]
DOCUMENTS = [
    "Berlin is the capital of Germany; about 3.8 million people live there.",
    "?!.,",
    "Berlin",
    "برلين هي عاصمة ألمانيا",
    "<b>markup</b> &amp; <script>alert(1)</script>",
    "Paris " * 120 + "is long enough to be cut.",
    "Ωμέγα ΣΟΦΟΣ Straße naïve café",
]

D = rc.IDENTITY
TANH = "torch.nn.modules.activation.Tanh"
PYLATE_KEYS = {"query_prefix": "[Q] ", "document_prefix": "[D] ", "query_length": 32, "document_length": 180,
               "do_query_expansion": True, "attend_to_expansion_tokens": False, "skiplist_words": rc.PUNCTUATION}

def _transformer_in_a_subfolder(folder):
    """An older Sentence Transformers layout: the backbone's files in ``0_Transformer``, named by
    ``modules.json``."""
    import json
    import shutil

    sub = folder / "0_Transformer"
    sub.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "sentence_bert_config.json", "special_tokens_map.json"):
        if (folder / name).exists():
            shutil.move(str(folder / name), str(sub / name))
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["path"] = "0_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder


CASES = {
    # PyLate 1.6 saves
    "pylate-bert-all-keys": lambda f: rc.pylate(f, **PYLATE_KEYS),
    "pylate-modernbert-no-expansion-dense-chain": lambda f: rc.pylate(
        f, "modernbert", dense=[(48, 96, True, D, False), (96, 48, True, D, False)],
        **{**PYLATE_KEYS, "do_query_expansion": False, "query_length": 12, "document_length": 40}),
    "pylate-attended-expansion-bias-128": lambda f: rc.pylate(
        f, dense=[(48, 128, True, D, False)], **{**PYLATE_KEYS, "attend_to_expansion_tokens": True,
                                               "query_length": 16}),
    "pylate-missing-keys": lambda f: rc.pylate(f, query_prefix="[Q] ", document_prefix="[D] "),
    "pylate-no-keys": lambda f: rc.pylate(f),
    "pylate-lowercased-cased-tokenizer": lambda f: rc.pylate(f, cased=True, do_lower_case=True, **PYLATE_KEYS),
    "pylate-own-skiplist-residual": lambda f: rc.pylate(
        f, dense=[(48, 48, False, D, True)], **{**PYLATE_KEYS, "skiplist_words": ["berlin", "the", "."]}),
    # Stanford ColBERT saves
    "stanford-96": lambda f: rc.stanford(f, dim=96),
    "stanford-modernbert-attend-no-punctuation": lambda f: rc.stanford(
        f, "modernbert", dim=48, metadata={**rc.STANFORD_METADATA, "attend_to_mask_tokens": True,
                                           "mask_punctuation": False, "query_maxlen": 20, "doc_maxlen": 30}),
    "stanford-no-metadata-keys": lambda f: rc.stanford(f, dim=32, metadata={}),
    # Sentence Transformers 6.2 saves
    "st-markers-fixed": lambda f: rc.st_native(f),
    "st-text-prompts-min-lengths": lambda f: rc.st_native(
        f, query_prefix="query: ", document_prefix="passage: ", markers=False,
        query_expansion={"strategy": "min", "attend": True, "length": 12}, query_length=20, document_length=24),
    "st-modernbert-own-token-tanh": lambda f: rc.st_native(
        f, "modernbert", query_expansion={"strategy": "fixed", "attend": True, "length": 24, "token": "[unused5]"},
        skiplist_words=[".", "berlin", "[D]"], dense=[(48, 128, True, TANH, False)]),
    "st-transformer-in-a-subfolder": lambda f: _transformer_in_a_subfolder(rc.st_native(
        f, query_expansion={"strategy": "min", "attend": False, "length": 10}, document_length=30)),
    "st-five-dimensions": lambda f: rc.st_native(f, dense=[(48, 5, True, D, False)]),
    "st-no-expansion-no-prefix-cased": lambda f: rc.st_native(
        f, query_prefix=None, document_prefix=None, query_expansion=None, cased=True, document_length=20,
        skiplist_words=None),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipes")
    return {name: build(root / name) for name, build in CASES.items()}


def _ours(folder):
    model = colbert_viz.load(str(folder), dtype="float32", device="cpu")
    return model, model.encode_queries(QUERIES), model.encode_documents(DOCUMENTS)


def _check_side(mine, theirs, what):
    for m, r in zip(mine, theirs):
        label = f"{what} {r['text'][:30]!r}"
        np.testing.assert_array_equal(m.ids, r["ids"], err_msg=f"{label}: token ids")
        np.testing.assert_array_equal(m.scored, r["scored"], err_msg=f"{label}: scored positions")
        np.testing.assert_allclose(m.vectors[m.scored], r["vectors"], atol=1e-5, err_msg=f"{label}: vectors")
        if "expansion" in r:
            np.testing.assert_array_equal(m.expansion, r["expansion"], err_msg=f"{label}: expansion positions")


@pytest.mark.parametrize("case", list(CASES))
def test_ids_vectors_and_scores_equal_sentence_transformers(folders, case):
    model, queries, documents = _ours(folders[case])
    ref = rc.reference(folders[case], QUERIES, DOCUMENTS)
    assert model.info.dim == ref["dim"]
    _check_side(queries, ref["queries"], "query")
    _check_side(documents, ref["documents"], "document")
    ours = np.stack([maxsim_scores(q, documents, model.info.dim) for q in queries])
    np.testing.assert_allclose(ours, ref["scores"], rtol=1e-5, atol=1e-4)


PYLATE_CASES = [c for c in CASES if c.startswith("pylate") and c not in ("pylate-missing-keys", "pylate-no-keys")]


@pytest.mark.parametrize("case", PYLATE_CASES)
def test_pylate_folders_equal_pylates_own_encoding(folders, case):
    """PyLate's encode code on the same folder (where its defaults and ST's agree: every key present).
    Two known disagreements with ``do_lower_case``: PyLate lower-cases the string (``str.lower``) before
    tokenizing, so a typed ``[MASK]`` becomes the text ``[mask]`` and a word-final ``Σ`` becomes ``ς``;
    Sentence Transformers (and colbert-viz) lower-case inside the tokenizer, where special tokens are matched
    first and each character is lower-cased alone."""
    _, queries, documents = _ours(folders[case])
    ref = rc.pylate_reference(folders[case], QUERIES, DOCUMENTS)
    if case == "pylate-lowercased-cased-tokenizer":
        typed, greek = len(QUERIES) - 1, len(DOCUMENTS) - 1
        assert "[MASK]" in queries[typed].tokens and not np.array_equal(queries[typed].ids,
                                                                        ref["queries"][typed]["ids"])
        assert not np.array_equal(documents[greek].ids, ref["documents"][greek]["ids"])
        queries, ref["queries"] = queries[:typed], ref["queries"][:typed]
        documents, ref["documents"] = documents[:greek], ref["documents"][:greek]
    _check_side(queries, ref["queries"], "query")
    _check_side(documents, ref["documents"], "document")


def test_each_recipe_reads_as_its_files_say(folders):
    """The recipe shown (page, CLI) is what the files state, with each default named."""
    read = {name: colbert_viz.load(str(f), dtype="float32", device="cpu").info.recipe for name, f in folders.items()}
    r = read["pylate-bert-all-keys"]
    assert (r.format, r.backbone, r.prefix_kind, r.query_prefix, r.document_prefix) == \
        ("pylate", "bert", "token", "[Q] ", "[D] ")
    assert (r.expansion, r.expansion_length, r.expansion_token, r.attend_expansion) == ("fixed", 32, "[MASK]", False)
    assert r.document_length == 180 and len(r.skiplist_words) == 32 and r.dim == 32
    assert r.notes == ("the tokenizer itself lower-cases",)  # BERT uncased: said, not hidden
    r = read["pylate-modernbert-no-expansion-dense-chain"]
    assert (r.backbone, r.expansion, r.query_length, r.dim) == ("modernbert", "none", 12, 48)
    assert [(d.in_features, d.out_features, d.bias) for d in r.dense] == [(48, 96, True), (96, 48, True)]
    assert read["pylate-attended-expansion-bias-128"].attend_expansion
    missing = read["pylate-missing-keys"]
    assert missing.expansion == "fixed" and any("no do_query_expansion" in n for n in missing.notes)
    none = read["pylate-no-keys"]
    assert none.expansion == "none" and none.query_prefix == "" and any("none of PyLate" in n for n in none.notes)
    assert read["pylate-lowercased-cased-tokenizer"].lowercase
    assert not read["st-no-expansion-no-prefix-cased"].lowercase
    assert read["pylate-own-skiplist-residual"].dense[0].residual
    s = read["stanford-96"]
    assert (s.format, s.dim, s.prefix_kind, s.query_prefix, s.document_length) == \
        ("stanford", 96, "token", "[unused0] ", 180)
    s = read["stanford-modernbert-attend-no-punctuation"]
    assert (s.attend_expansion, s.skiplist_words, s.expansion_length) == (True, (), 20)
    st = read["st-text-prompts-min-lengths"]
    assert (st.format, st.prefix_kind, st.expansion, st.expansion_length, st.query_length) == \
        ("sentence-transformers", "text", "min", 12, 20)
    st = read["st-modernbert-own-token-tanh"]
    assert (st.expansion_token, st.skiplist_words, st.dense[0].activation) == ("[unused5]", (".", "berlin", "[D]"),
                                                                              "tanh")


def test_the_explorer_labels_prefix_and_expansion_tokens(folders):
    """Prompt tokens are markers (scored, not text), expansion tokens are expansion, spans index the text."""
    model = colbert_viz.load(str(folders["st-text-prompts-min-lengths"]), dtype="float32", device="cpu")
    q = model.encode_queries(["Berlin size"])[0]
    assert q.tokens[:4] == ["[CLS]", "query", ":", "berlin"]
    assert list(q.marker[:4]) == [False, True, True, False] and q.spans[3] == (0, 6)
    assert q.expansion.sum() == 12 - 6 and len(q) == 12
    explanation = model.explain("Berlin size", "Berlin is big.")
    assert explanation.query.kinds[:4] == ["special", "marker", "marker", "text"]
    assert abs(explanation.score - explanation.contributions.sum()) < 1e-9


def test_the_page_text_follows_the_recipe(folders, tmp_path):
    """'How to read this' says what the recipe does (min expansion, attention) and shows the recipe as a
    table, escaped: a prefix comes from a checkpoint's files."""
    from colbert_viz.explorer.page_text import how_to_read
    from colbert_viz.explorer.payload import model_facts

    minimal = colbert_viz.load(str(folders["st-text-prompts-min-lengths"]), dtype="float32", device="cpu")
    text = how_to_read(model_facts(minimal))
    assert "pads a query shorter than 12 tokens to 12" in text and "up to 20" in text
    assert "**This model's recipe**" in text and "| query expansion | min: padded to 12 with [MASK]" in text
    assert "This model's recipe names its skiplist (32 words on document)" in text
    fixed = colbert_viz.load(str(folders["stanford-96"]), dtype="float32", device="cpu")
    assert "do not attend to them" in how_to_read(model_facts(fixed))
    marked = rc.st_native(tmp_path / "markup", query_prefix="<i>q</i>| ", markers=False)
    text = how_to_read(model_facts(colbert_viz.load(str(marked), dtype="float32", device="cpu")))
    assert "'&lt;i&gt;q&lt;/i&gt;\\| '" in text  # in the table: escaped
    assert text.count("<i>") == text.count("`<i>q</i>| `")  # elsewhere only inside code spans, shown as typed


def test_an_odd_output_size_runs_through_every_view(folders):
    """A 5-d model: no Matryoshka sizes to offer, every storage setting computed, the payload drawn."""
    from colbert_viz.explorer.payload import model_facts, run_payload
    from colbert_viz.storage.analysis import StoredAnalysis

    model = colbert_viz.load(str(folders["st-five-dimensions"]), dtype="float32", device="cpu")
    assert model.dimensions == (5,)
    analysis = model.analyze(QUERIES[0], DOCUMENTS)
    stored = StoredAnalysis(analysis)
    table = stored.compression_table()
    assert {row["dimensions"] for row in table} == {5} and not stored.unavailable()
    payload = run_payload(analysis, model=model_facts(model))
    assert payload["model"]["dimensions"] == [5] and len(payload["documents"]) == len(DOCUMENTS)


def test_a_collection_written_with_a_recipe_is_labelled_with_its_own_skiplist(folders, tmp_path):
    """Indexing stores the scored tokens under the recipe's own skiplist (here only '.', 'berlin' and
    '[D]', unlike the reader convention, which drops '!' and '?'); search names each stored vector
    with its token, as stated, and scores as the Run does."""
    from colbert_viz.collections import EdgeBackend, index, search

    model = colbert_viz.load(str(folders["st-modernbert-own-token-tanh"]), dtype="float32", device="cpu")
    texts = ["Paris is nice! Really?", "Berlin, the capital."]
    with EdgeBackend(str(tmp_path / "collection")) as store:
        index(model, store, texts)
        result = search(model, store, "Where is Paris?", top_k=2)
    run = model.analyze("Where is Paris?", texts)
    for hit in result.hits:
        stored = result.analysis.documents[hit.index]
        mine = run.documents[texts.index(stored.text)]
        assert (hit.layout, hit.basis) == ("recipe/specials", "stated")
        assert [t for t, s in zip(mine.tokens, mine.scored) if s] == \
            [t for t, s in zip(stored.tokens, stored.scored) if s]
        assert hit.exact == pytest.approx(float(run.scores(model.info.dim)[texts.index(stored.text)]), abs=1e-4)
    assert "!" in result.analysis.documents[0].tokens + result.analysis.documents[1].tokens


def test_other_settings_on_a_recipe_model(folders):
    """``with_settings`` on a recipe model: a skiplist convention replaces the recipe's words (the
    recipe says so), and a query length under a ``min`` expansion's floor is refused."""
    model = colbert_viz.load(str(folders["st-markers-fixed"]), dtype="float32", device="cpu")
    assert model.encode_documents(["Berlin, big."])[0].skipped.any()
    none = model.with_settings(skiplist="none")
    assert not none.encode_documents(["Berlin, big."])[0].skipped.any()
    assert none.info.recipe.skiplist_words == () and "changed here: skiplist" in none.info.recipe.notes[-1]
    minimal = colbert_viz.load(str(folders["st-text-prompts-min-lengths"]), dtype="float32", device="cpu")
    with pytest.raises(ValueError, match="query length 8 is below the expansion length 12"):
        minimal.with_settings(query_maxlen=8)


def test_page_facts_of_a_head_and_of_a_min_expansion(folders, tiny_model, tmp_path):
    from colbert_viz.engine.heads import with_head
    from colbert_viz.engine.synthetic import write_sibling
    from colbert_viz.explorer.page_text import how_to_read
    from colbert_viz.explorer.payload import model_facts

    head = with_head(tiny_model, str(write_sibling(tiny_model.info.path, tmp_path / "h96", 96)))
    facts = model_facts(head)
    assert facts["matryoshka"] is False and "trained to be cut to" not in how_to_read(facts)
    minimal = colbert_viz.load(str(folders["st-text-prompts-min-lengths"]), dtype="float32", device="cpu")
    text = how_to_read(model_facts(minimal))
    assert "A query has at least 12 tokens (its own, padded) and at most 20" in text and "go up to 20" not in text


def test_a_hub_download_fetches_every_file_the_loader_reads(folders):
    """``load(hub id)`` downloads only ``HUB_FILES`` (``snapshot_download(allow_patterns=…)``): every file
    of every layout here (PyLate, Stanford, Sentence Transformers, a Transformer in a subfolder) matches,
    README aside, so a recipe model from the hub has what it has here."""
    from huggingface_hub.utils import filter_repo_objects

    from colbert_viz.engine.checkpoint import HUB_FILES

    for name, folder in folders.items():
        files = [str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file() and f.name != "README.md"]
        fetched = set(filter_repo_objects(files, allow_patterns=HUB_FILES))
        assert fetched == set(files), f"{name}: {sorted(set(files) - fetched)}"
