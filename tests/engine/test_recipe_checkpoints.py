"""The test-time checkpoint factory (tests/recipe_checkpoints.py): each folder is laid out as its ecosystem
writes it, loads in sentence-transformers 6.2, and the reference reports what ST (and PyLate) encode."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

from tests import recipe_checkpoints as rc

QUERIES = ["What is the capital of France?", "a very long query with many many words in it that goes past twelve"]
DOCUMENTS = ["Paris is the capital, of France! It is a city.", "Berlin."]


def shown(row) -> list[str]:
    """Tokens, the unscored ones in parentheses."""
    return [t if s else f"({t})" for t, s in zip(row["tokens"], row["scored"])]


def keys(path) -> set[str]:
    with safe_open(str(path), framework="pt") as f:
        return set(f.keys())


# ---------------------------------------------------------------------------------
# PyLate
# ---------------------------------------------------------------------------------

FULL = dict(query_prefix="[Q] ", document_prefix="[D] ", query_length=12, document_length=10,
            do_query_expansion=True, attend_to_expansion_tokens=True, skiplist_words=[",", "!"])


def test_pylate_layout(tmp_path):
    chain = [(48, 64, True, rc.IDENTITY, True), (64, 16, False, "torch.nn.modules.activation.Tanh", False)]
    folder = rc.pylate(tmp_path / "p", dense=chain, query_length=12, do_query_expansion=False)
    modules = json.loads((folder / "modules.json").read_text())
    assert [(m["path"], m["type"]) for m in modules] == [
        ("", "sentence_transformers.models.Transformer"), ("1_Dense", "pylate.models.Dense.Dense"),
        ("2_Dense", "pylate.models.Dense.Dense")]
    assert json.loads((folder / "1_Dense" / "config.json").read_text()) == {
        "in_features": 48, "out_features": 64, "bias": True, "activation_function": rc.IDENTITY, "use_residual": True}
    assert keys(folder / "1_Dense" / "model.safetensors") == {"linear.weight", "linear.bias", "residual.weight"}
    assert keys(folder / "2_Dense" / "model.safetensors") == {"linear.weight"}
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["model_type"] == "ColBERT" and config["query_length"] == 12 and not config["do_query_expansion"]
    assert "query_prefix" not in config and "skiplist_words" not in config  # omitted keys stay omitted
    assert json.loads((folder / "sentence_bert_config.json").read_text()) == {"max_seq_length": 179,
                                                                              "do_lower_case": False}
    # PyLate adds its default prefixes to the tokenizer even when the config does not name them.
    added = json.loads((folder / "tokenizer.json").read_text())["added_tokens"]
    assert [a["content"] for a in added if a["id"] >= 30522] == ["[Q] ", "[D] "]


@pytest.mark.parametrize("recipe", [
    dict(FULL),
    dict(FULL, backbone="modernbert", do_query_expansion=False, attend_to_expansion_tokens=False),
    dict(query_prefix="[unused0]", document_prefix="[unused1]", query_length=16, document_length=20,
         do_query_expansion=True, attend_to_expansion_tokens=False),
    dict(FULL, cased=True, do_lower_case=True),
], ids=["bert-attend", "modernbert-no-expansion", "unused-markers", "lower-casing"])
def test_pylate_folder_reads_the_same_in_st_and_in_pylate(tmp_path, recipe):
    folder = rc.pylate(tmp_path / "p", **recipe)
    st = rc.reference(folder, QUERIES, DOCUMENTS)
    pl = rc.pylate_reference(folder, QUERIES, DOCUMENTS)
    for kind in ("queries", "documents"):
        for a, b in zip(st[kind], pl[kind], strict=True):
            assert shown(a) == shown(b)
            np.testing.assert_array_equal(a["ids"], b["ids"])
            np.testing.assert_allclose(a["vectors"], b["vectors"], atol=1e-5)


def test_pylate_full_recipe_tokens(tmp_path):
    st = rc.reference(rc.pylate(tmp_path / "p", **FULL), QUERIES, DOCUMENTS)
    short, long = st["queries"]
    # [CLS] [Q] … [SEP] then [MASK] up to query_length; a long query is cut to it, [SEP] kept.
    assert len(short["ids"]) == len(long["ids"]) == 12 and short["scored"].all() and long["scored"].all()
    assert short["tokens"][:3] == ["[CLS]", "[q] ", "what"] and short["tokens"][-2:] == ["[MASK]", "[MASK]"]
    assert long["tokens"][-1] == "[SEP]" and short["expansion"].sum() == 2
    # document_length counts [CLS], the prefix and [SEP]; only the listed skiplist words are dropped.
    doc = st["documents"][0]
    assert len(doc["ids"]) == 10
    assert shown(doc) == ["[CLS]", "[d] ", "paris", "is", "the", "capital", "(,)", "of", "france", "[SEP]"]
    assert st["documents"][1]["scored"].all()  # "." is not in this skiplist
    assert st["dim"] == 32 and st["scores"].shape == (2, 2)


def test_missing_prefix_keys_st_and_pylate_disagree(tmp_path):
    """A PyLate config without query_prefix/document_prefix: PyLate inserts its defaults "[Q] "/"[D] ", ST 6.2
    inserts nothing; with no PyLate key at all, ST 6.2 also turns query expansion off (PyLate: on, 32)."""
    folder = rc.pylate(tmp_path / "p")
    st = rc.reference(folder, QUERIES[:1], DOCUMENTS[:1])
    pl = rc.pylate_reference(folder, QUERIES[:1], DOCUMENTS[:1])
    assert st["queries"][0]["tokens"][:2] == ["[CLS]", "what"] and len(st["queries"][0]["ids"]) == 9
    assert pl["queries"][0]["tokens"][:2] == ["[CLS]", "[q] "] and len(pl["queries"][0]["ids"]) == 32
    assert st["documents"][0]["tokens"][1] == "paris" and pl["documents"][0]["tokens"][1] == "[d] "


# ---------------------------------------------------------------------------------
# Stanford
# ---------------------------------------------------------------------------------

def test_stanford_layout_and_reference(tmp_path):
    folder = rc.stanford(tmp_path / "s", dim=24)
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["HF_ColBERT"]
    weights = keys(folder / "model.safetensors")
    assert "linear.weight" in weights and "linear.bias" not in weights
    assert all(k == "linear.weight" or k.startswith("bert.") for k in weights)
    st = rc.reference(folder, QUERIES, DOCUMENTS)
    query = st["queries"][0]
    assert st["dim"] == 24 and len(query["ids"]) == 32 and query["scored"].all()
    assert query["tokens"][:3] == ["[CLS]", "[unused0]", "what"] and query["tokens"][-1] == "[MASK]"
    assert shown(st["documents"][1]) == ["[CLS]", "[unused1]", "berlin", "(.)", "[SEP]"]


def test_stanford_metadata_keys(tmp_path):
    meta = {"query_maxlen": 8, "doc_maxlen": 6, "mask_punctuation": False, "attend_to_mask_tokens": True}
    st = rc.reference(rc.stanford(tmp_path / "s", metadata=meta), QUERIES, DOCUMENTS)
    assert st["queries"][0]["tokens"][:2] == ["[CLS]", "[unused0]"]  # default marker
    assert len(st["queries"][0]["ids"]) == 8 and len(st["documents"][0]["ids"]) == 6
    assert st["documents"][1]["scored"].all()  # no punctuation mask
    assert st["dim"] == 32  # from linear.weight; artifact.metadata has no dim here


# ---------------------------------------------------------------------------------
# sentence-transformers 6 native
# ---------------------------------------------------------------------------------

def test_st_native_layout_and_fixed_expansion(tmp_path):
    folder = rc.st_native(tmp_path / "n", dense=[(48, 96, True, rc.IDENTITY, False)])
    modules = [m["type"] for m in json.loads((folder / "modules.json").read_text())]
    assert modules[-2:] == ["sentence_transformers.multi_vector_encoder.modules.multi_vector_mask.MultiVectorMask",
                            "sentence_transformers.base.modules.normalize.Normalize"]
    st = rc.reference(folder, QUERIES, DOCUMENTS)
    assert st["dim"] == 96
    assert [len(q["ids"]) for q in st["queries"]] == [32, 32]
    assert st["queries"][0]["tokens"][:3] == ["[CLS]", "[Q]", "what"]
    assert shown(st["documents"][1]) == ["[CLS]", "[D]", "berlin", "(.)", "[SEP]"]
    np.testing.assert_allclose(np.linalg.norm(st["queries"][0]["vectors"], axis=1), 1.0, atol=1e-5)


def test_st_native_min_strategy_and_query_length(tmp_path):
    folder = rc.st_native(tmp_path / "n", query_expansion={"strategy": "min", "length": 12}, query_length=16)
    short, long = rc.reference(folder, QUERIES, [])["queries"]
    assert len(short["ids"]) == 12 and short["expansion"].sum() == 2  # padded up to the floor
    assert len(long["ids"]) == 16 and not long["expansion"].any()  # passes the floor, capped by query_length


def test_st_native_text_prompts_and_query_skiplist(tmp_path):
    folder = rc.st_native(tmp_path / "n", query_prefix="query: ", document_prefix="passage: ", markers=False,
                          query_expansion=None, skiplist_tasks=["query", "document"])
    st = rc.reference(folder, QUERIES[:1], DOCUMENTS[:1])
    assert shown(st["queries"][0]) == ["[CLS]", "query", "(:)", "what", "is", "the", "capital", "of", "france",
                                       "(?)", "[SEP]"]
    assert shown(st["documents"][0])[:3] == ["[CLS]", "passage", "(:)"]


def test_st_native_attend_changes_the_vectors(tmp_path):
    plain = rc.reference(rc.st_native(tmp_path / "a"), QUERIES[:1], [])["queries"][0]
    attend = rc.reference(rc.st_native(tmp_path / "b", query_expansion={"strategy": "fixed", "attend": True,
                                                                        "length": 32}), QUERIES[:1], [])["queries"][0]
    np.testing.assert_array_equal(plain["ids"], attend["ids"])
    assert np.abs(plain["vectors"] - attend["vectors"]).max() > 0.05  # same seed: only the attention differs


def test_lower_casing(tmp_path):
    """PyLate's ``sentence_bert_config.json`` ``do_lower_case`` is applied by ST 6.2; ST 6.2's own
    ``do_lower_case`` is not saved (not a config key) and the Lowercase it adds to tokenizer.json is rebuilt
    away by transformers' BertTokenizer on load, so it does not survive the round trip."""
    recipe = dict(query_prefix="[Q] ", document_prefix="[D] ", do_query_expansion=False, cased=True)
    cased = rc.reference(rc.pylate(tmp_path / "a", **recipe), ["Paris"], [])["queries"][0]
    lowered = rc.reference(rc.pylate(tmp_path / "b", do_lower_case=True, **recipe), ["Paris"], [])["queries"][0]
    assert cased["tokens"][2] == "[UNK]" and lowered["tokens"][2] == "paris"
    native = rc.st_native(tmp_path / "c", cased=True, do_lower_case=True)
    assert "do_lower_case" not in json.loads((native / "sentence_bert_config.json").read_text())
    assert rc.reference(native, ["Paris"], [])["queries"][0]["tokens"][2] == "[UNK]"


def test_builders_are_seeded(tmp_path):
    a = rc.reference(rc.stanford(tmp_path / "a", seed=1), QUERIES[:1], [])["queries"][0]["vectors"]
    b = rc.reference(rc.stanford(tmp_path / "b", seed=1), QUERIES[:1], [])["queries"][0]["vectors"]
    c = rc.reference(rc.stanford(tmp_path / "c", seed=2), QUERIES[:1], [])["queries"][0]["vectors"]
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1


def test_pylate_files_have_the_published_shape(tmp_path):
    """The factory writes the same files, keys and module list as published PyLate checkpoints."""
    from tests.published_recipes import published

    recipe = published("lightonai/LateOn-Code-edge", "config_sentence_transformers.json")
    keys_ = ("query_prefix", "document_prefix", "query_length", "document_length", "do_query_expansion",
             "attend_to_expansion_tokens", "skiplist_words")
    chain = [(48, 512, False, rc.IDENTITY, False), (512, 48, False, rc.IDENTITY, False)]
    folder = rc.pylate(tmp_path / "p", dense=chain, **{k: recipe[k] for k in keys_})
    read = lambda name: json.loads((folder / name).read_text())  # noqa: E731
    assert read("modules.json") == published("lightonai/LateOn-Code-edge", "modules.json")
    assert read("2_Dense/config.json") == published("lightonai/LateOn-Code-edge", "2_Dense/config.json")
    assert set(read("config_sentence_transformers.json")) == set(recipe)
    assert set(read("sentence_bert_config.json")) == set(published("LiquidAI/LFM2-ColBERT-350M",
                                                                   "sentence_bert_config.json"))
    query = rc.reference(folder, QUERIES[:1], [])["queries"][0]
    assert len(query["ids"]) == 10 and not query["expansion"].any()  # do_query_expansion false: no [MASK]
