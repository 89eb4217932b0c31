"""Checks against the real jinaai/jina-colbert-v2 weights.

Skipped unless the weights are on this machine: either in the local Hugging Face
cache (nothing is downloaded: the hub is put offline for the load) or in a
folder named by the environment variable ``COLBERT_VIZ_REAL_WEIGHTS``. Reference
values are FastEmbed's test for this model (see model-facts.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import colbert_viz
from colbert_viz.checkpoint import DEFAULT_MODEL

pytestmark = pytest.mark.real_weights

ENV = "COLBERT_VIZ_REAL_WEIGHTS"


def locate() -> tuple[str | None, str]:
    """(what to pass to ``load``, or None; why not, when None)."""
    folder = os.environ.get(ENV)
    if folder:
        if not (Path(folder) / "config.json").is_file():
            return None, f"{ENV}={folder} is not a checkpoint folder (no config.json)"
        return folder, ""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None, "huggingface_hub is not installed"
    needed = ("config.json", "model.safetensors", "tokenizer.json")
    for name in needed:
        if not isinstance(try_to_load_from_cache(DEFAULT_MODEL, name), str):
            return None, f"{DEFAULT_MODEL} ({name}) is not in the local Hugging Face cache and {ENV} is not set"
    return DEFAULT_MODEL, ""


@pytest.fixture(scope="module")
def real_model():
    where, why = locate()
    if where is None:
        pytest.skip(why)
    if where == DEFAULT_MODEL:
        import huggingface_hub.constants as hf_constants

        with pytest.MonkeyPatch.context() as patch:  # read the cache, never the network
            patch.setenv("HF_HUB_OFFLINE", "1")
            patch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
            return colbert_viz.load(where, dtype="float32", device="cpu")
    return colbert_viz.load(where, dtype="float32", device="cpu")


def test_model_shape(real_model):
    info = real_model.info
    assert info.family == "jina" and info.dim == 128 and info.dimensions == (128, 96, 64)
    assert real_model.tokenizer.vocab_size == 250004
    assert real_model.tokenizer.query_marker_id == 250002 and real_model.tokenizer.doc_marker_id == 250003


def test_hello_world_document(real_model):
    doc = real_model.encode_documents(["Hello World"])[0]
    assert len(doc) == 5 and doc.vectors.shape == (5, 128)
    np.testing.assert_allclose(doc.vectors[0, :5], [0.0742, 0.0591, -0.2403, -0.1774, 0.02], atol=2e-3, rtol=0)


def test_hello_world_query(real_model):
    query = real_model.encode_queries(["Hello World"])[0]
    assert len(query) == 32 and query.vectors.shape == (32, 128)
    np.testing.assert_allclose(query.vectors[0, :5], [0.0477, 0.0255, -0.2224, -0.1085, -0.03], atol=2e-3, rtol=0)


def test_berlin_ranking(real_model, berlin):
    analysis = real_model.analyze(berlin["query"], berlin["documents"])
    scores = analysis.scores(128)
    relevant, distractors = [0, 3, 6], [1, 4, 7]  # population / urban area / capital vs volcano / composer / TV
    assert scores[relevant].min() > scores[distractors].max(), scores.round(3).tolist()
    assert scores.max() > 16, "relevant documents typically score well above 16 of 32"
