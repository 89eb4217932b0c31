"""Dedicated heads against cuts (colbert_viz.engine.heads) on random jina-layout checkpoints:
a sibling with its own 96-d head, one whose 64-d head is the first rows of the 128-d head, and
siblings that must be refused (another backbone, a missing head, a head as wide as the model's)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import colbert_viz
from colbert_viz.engine.checkpoint import ModelLoadError
from colbert_viz.engine.heads import with_head
from colbert_viz.engine.synthetic import write_sibling

QUERY = "How many people live in Berlin?"
DOCS = ["Berlin has 3.8 million people.", "Paris is the capital of France.", "Berlin is in Germany; it is big."]


@pytest.fixture(scope="module")
def siblings(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("siblings")
    return {"own96": write_sibling(tiny_checkpoint, root / "jina-96", 96, seed=3),
            "cut64": write_sibling(tiny_checkpoint, root / "jina-64", 64, cut=True)}


def test_a_dedicated_head_runs_the_same_backbone_with_its_own_projection(tiny_model, siblings):
    head = with_head(tiny_model, str(siblings["own96"]))
    assert head.info.dim == 96 and head.dimensions == (96,)
    assert not head.head_check.equals_cut and head.head_check.max_row_difference > 0.1
    assert head.head_check.tensors_compared == len(tiny_model.network.module.roberta.state_dict())
    # The head's vectors are the backbone's hidden states through the sibling's weights, normalised.
    weight = load_file(str(siblings["own96"] / "model.safetensors"))["linear.weight"].float()
    q = head.encode_queries([QUERY])[0]
    ids = torch.from_numpy(q.ids)
    with torch.inference_mode():
        hidden = tiny_model.network.module.roberta(ids, [len(ids)], [None])
    expected = torch.nn.functional.normalize(hidden @ weight.T, dim=-1).numpy()
    np.testing.assert_allclose(q.vectors, expected, atol=1e-5)
    # and differ from the cut: another ranking signal, while the base model is left as it was
    cut = tiny_model.analyze(QUERY, DOCS)
    own = head.analyze(QUERY, DOCS)
    assert not np.allclose(cut.scores(96), own.scores(96), atol=1e-3)
    assert tiny_model.info.dim == 128 and tiny_model.network.module.linear.out_features == 128
    assert "own projection" in head.head_check.sentence()


def test_a_head_equal_to_the_first_rows_gives_the_cut_and_says_so(tiny_model, siblings):
    head = with_head(tiny_model, str(siblings["cut64"]))
    assert head.head_check.equals_cut and head.head_check.max_row_difference == 0
    assert "only the cut is offered" in head.head_check.sentence()
    cut, own = tiny_model.analyze(QUERY, DOCS), head.analyze(QUERY, DOCS)
    np.testing.assert_allclose(own.scores(64), cut.scores(64), atol=1e-4)
    for a, b in zip(cut.documents, own.documents):
        np.testing.assert_allclose(a.at_dim(64), b.at_dim(64), atol=1e-5)


def test_the_head_has_its_own_cache_entries(tiny_model, siblings):
    """The base and the head share the backbone, never each other's cached vectors."""
    tiny_model.encode_documents(DOCS)
    head = with_head(tiny_model, str(siblings["own96"]))
    assert head.encode_documents(DOCS)[0].dim == 96
    assert tiny_model.encode_documents(DOCS)[0].dim == 128


def test_siblings_that_do_not_fit_are_refused_in_one_sentence(tiny_model, tiny_checkpoint, tmp_path):
    other = write_sibling(tiny_checkpoint, tmp_path / "other", 96)
    state = load_file(str(other / "model.safetensors"))
    state["roberta.embeddings.word_embeddings.weight"] = state["roberta.embeddings.word_embeddings.weight"] + 1
    save_file(state, str(other / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"another backbone .*tensor roberta\.embeddings\.word_embeddings"):
        with_head(tiny_model, str(other))
    headless = write_sibling(tiny_checkpoint, tmp_path / "headless", 96)
    state = load_file(str(headless / "model.safetensors"))
    del state["linear.weight"]
    save_file(state, str(headless / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"has no linear\.weight"):
        with_head(tiny_model, str(headless))
    with pytest.raises(ModelLoadError, match="expected \\(k, 64\\) with k below 128"):
        with_head(tiny_model, str(tiny_checkpoint))  # the model itself: a 128-d "head"
    offline = colbert_viz.load("offline", dtype="float32", device="cpu")
    with pytest.raises(ModelLoadError, match="jina-colbert-v2-layout models only"):
        with_head(offline, str(tiny_checkpoint))


def test_load_and_the_cli_take_base_plus_head(tiny_checkpoint, siblings):
    name = f"{tiny_checkpoint}+head:{siblings['own96']}"
    model = colbert_viz.load(name, dtype="float32", device="cpu")
    assert model.info.dim == 96 and model.info.recipe.dim == 96
    assert str(siblings["own96"]) not in " ".join(model.info.recipe.notes)  # no server path in what is shown
    out = subprocess.run([sys.executable, "-m", "colbert_viz", "recipe", "--model", name, "--dtype", "float32"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    recipe = json.loads(out.stdout)["recipe"]
    assert recipe["dim"] == 96 and recipe["dense"] == ["64→96, no bias"]
    assert any("own projection" in note for note in recipe["notes"])
