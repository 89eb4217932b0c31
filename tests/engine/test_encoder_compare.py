"""``colbert_viz.compare_encoders`` and ``python -m colbert_viz compare`` on real tokenizers: the
offline model (WordPiece, 384-d, no expansion) beside the tiny jina-layout checkpoint
(XLM-R sentencepiece, 128-d, 32 query tokens), and one model with its expansion off."""

from __future__ import annotations

import json

import pytest

import colbert_viz
from colbert_viz import cli

QUERY = "How many people live in New-York?"
DOCS = ["New York has 8.3 million people.", "Berlin is in Germany.", "The population of NYC grows."]


@pytest.fixture(scope="module")
def offline():
    return colbert_viz.load("offline", dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def docs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs") / "docs.txt"
    path.write_text("\n".join(DOCS), encoding="utf-8")
    return str(path)


def test_two_tokenizers_two_dimensions_each_side_labelled_by_its_own_tokens(offline, tiny_model):
    c = colbert_viz.compare_encoders(offline, tiny_model, QUERY, DOCS, pair=(0, 1))
    assert (c.a.dim, c.b.dim) == (384, 128)
    assert (c.a.query_tokens, c.b.query_tokens, c.b.expansion_tokens) == (11, 32, 20)
    words = {w.word: w for w in c.matches[0].words}
    assert list(words) == ["How", "many", "people", "live", "in", "New", "-", "York", "?"]
    assert words["York"].a.tokens == ["york"] and words["York"].b.tokens == ["York"]
    assert words["people"].a.tokens == ["people"] and words["people"].b.tokens == ["▁people"]
    assert all(w.a.match in offline_tokens(offline, DOCS[0]) for w in words.values())
    assert {x.kind for x in c.matches[0].extra_b} == {"special", "marker", "expansion"}
    keys = {k for k, _, _ in c.recipe}
    assert {"format", "query_prefix", "expansion", "dim", "subword"} <= keys and "skiplist_words" not in keys
    for side, gap in (("a", c.pair.gap_a), ("b", c.pair.gap_b)):
        assert sum(getattr(r, f"gap_{side}") or 0 for r in c.pair.rows) == pytest.approx(gap, abs=1e-9)
    assert json.loads(json.dumps(c.to_dict()))["b"]["model"] == tiny_model.info.display_name


def offline_tokens(model, text: str) -> list[str]:
    return model.tokenizer.tokenize_documents([text])[0].tokens


def test_the_same_skiplist_set_again_is_no_difference(tiny_model):
    """A convention set again reads as the model's own skiplist: same words, same order."""
    from colbert_viz.engine.encoder_compare import with_changes

    again = with_changes(tiny_model, {"skiplist": "reader"})
    assert again.info.recipe.skiplist_words == tiny_model.info.recipe.skiplist_words
    assert set(tiny_model.info.recipe.skiplist_words) == set(tiny_model.tokenizer.skip_tokens())  # what it drops
    assert colbert_viz.compare_encoders(tiny_model, again, QUERY, DOCS).recipe == []


def test_the_same_model_with_expansion_off_differs_only_there(tiny_model):
    from colbert_viz.engine.encoder_compare import with_changes

    off = with_changes(tiny_model, {"query_expansion": False})
    c = colbert_viz.compare_encoders(tiny_model, off, QUERY, DOCS)
    assert [k for k, _, _ in c.recipe] == ["query_length", "expansion", "expansion_length", "expansion_token"]
    assert (c.a.expansion_tokens, c.b.expansion_tokens, c.b.query_tokens) == (20, 0, 12)
    assert c.a.scores.tolist() != c.b.scores.tolist()
    assert all(w.a.tokens == w.b.tokens for w in c.matches[0].words)


def cli_run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["compare", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_offline_beside_the_tiny_checkpoint(capsys, tiny_checkpoint, docs_file):
    code, out, _ = cli_run(capsys, "--model", "offline", "--model-b", str(tiny_checkpoint), "--query", QUERY,
                           "--documents", docs_file, "--pair", "0", "2", "--dimensions-b", "64")
    assert code == 0
    result = json.loads(out)
    assert (result["a"]["dimensions"], result["b"]["dimensions"]) == (384, 64)
    assert (result["a"]["query_tokens"], result["b"]["query_tokens"]) == (11, 32)  # B: the jina layout
    assert result["pair"]["first"] == 0 and result["pair"]["second"] == 2
    assert "query-token maxima" in result["scale_note"] and len(result["rank_moves"]) == 3


def test_cli_b_set_turns_the_expansion_off(capsys, tiny_checkpoint, docs_file):
    code, out, _ = cli_run(capsys, "--model", str(tiny_checkpoint), "--query", QUERY, "--documents", docs_file,
                           "--b-set", "query_expansion=false", "--b-set", "skiplist=none")
    assert code == 0
    result = json.loads(out)
    differences = {r["key"]: (r["a"], r["b"]) for r in result["recipe_differences"]}
    assert set(differences) == {"query_length", "expansion", "expansion_length", "expansion_token", "skiplist_words"}
    assert differences["expansion"] == ("fixed", "none") and differences["expansion_token"] == ("<mask>", None)
    assert differences["skiplist_words"][1] == []
    assert result["b"]["query_tokens"] == 12


@pytest.mark.parametrize(("args", "message"), [
    (["--b-set", "bogus=1"], "unknown setting 'bogus'"),
    (["--b-set", "query_expansion=maybe"], "query_expansion must be true or false"),
    (["--b-set", "skiplist"], "expected key=value"),
    (["--b-set", "query_maxlen=2"], "query_maxlen must be a whole number of at least 4"),
    (["--b-set", "query_maxlen=99999"], "over tiny"),
    (["--b-set", "query_marker=[Nope]"], "no marker token '[Nope]'"),
    (["--pair", "0", "9"], "document index 9 is out of range"),
    (["--pair", "1", "1"], "two different documents"),
    (["--dimensions-b", "77"], "B: dimensions must be one of 128, 96, 64"),
    (["--model-b", "/no/such/folder"], "folder"),
])
def test_cli_bad_input_is_one_line_and_status_2(capsys, tiny_checkpoint, docs_file, args, message):
    code, out, err = cli_run(capsys, "--model", str(tiny_checkpoint), "--query", QUERY, "--documents", docs_file,
                             *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("colbert-viz: error: ") and message in err, err
    assert "Traceback" not in err
