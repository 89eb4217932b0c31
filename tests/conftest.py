"""Shared fixtures: small random checkpoints in jina-colbert-v2's exact layout,
built once per test session (real XLM-R tokenizer, random weights)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

SHARED_BERLIN = Path(__file__).resolve().parents[1] / "colbert_viz" / "assets" / "examples" / "berlin.json"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A 2-layer, 64-wide jina-layout checkpoint (bf16 storage, 128-d head)."""
    from colbert_viz.synthetic import write_checkpoint

    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-jina", seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    """The tiny checkpoint loaded in float32 on the CPU."""
    import colbert_viz

    return colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu")


@pytest.fixture(scope="session")
def berlin() -> dict:
    return json.loads(SHARED_BERLIN.read_text(encoding="utf-8"))
