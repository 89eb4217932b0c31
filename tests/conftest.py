"""Shared fixtures: small random checkpoints in jina-colbert-v2's exact layout,
built once per test session (real XLM-R tokenizer, random weights).

The ``auto`` dtype decisions go to a folder of this test session, never to the
user's cache: it is set in the environment before any test runs, so every
process the tests start (a notebook kernel, the CLI) reads and keeps the same
decisions as the tests' own process. Tests that fake the probe use
``private_dtype_cache`` instead, so their fake decisions stay with them.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.pop("COLBERT_VIZ_DTYPE_PROBE", None)
SESSION_CACHE = tempfile.mkdtemp(prefix="colbert-viz-tests-")
os.environ["COLBERT_VIZ_CACHE_DIR"] = SESSION_CACHE
atexit.register(shutil.rmtree, SESSION_CACHE, ignore_errors=True)

SHARED_BERLIN = Path(__file__).resolve().parents[1] / "colbert_viz" / "app" / "assets" / "examples" / "berlin.json"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A 2-layer, 64-wide jina-layout checkpoint (bf16 storage, 128-d head)."""
    from colbert_viz.engine.synthetic import write_checkpoint

    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-jina", seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    """The tiny checkpoint loaded in float32 on the CPU."""
    import colbert_viz

    return colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu")


@pytest.fixture(scope="session")
def berlin() -> dict:
    return json.loads(SHARED_BERLIN.read_text(encoding="utf-8"))


@pytest.fixture
def private_dtype_cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of this test alone (for tests that fake the dtype probe)."""
    folder = tmp_path / "dtype-cache"
    monkeypatch.setenv("COLBERT_VIZ_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def sync_playwright():
    """Playwright's ``sync_playwright`` for the browser tests, or the module's tests
    skipped (no Debian Chromium, no playwright package): ``serving.playwright_or_skip``."""
    from serving import playwright_or_skip

    return playwright_or_skip()
