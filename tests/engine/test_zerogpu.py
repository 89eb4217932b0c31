"""ZeroGPU: off a ZeroGPU Space ``spaces`` is never imported and the encode is the CPU's;
on one (a fake ``spaces`` module here) every encode goes through the ``spaces.GPU``
function with picklable arrays only, and its duration grows with the input."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import colbert_viz
from colbert_viz.engine import zerogpu
from colbert_viz.engine.loading import pick_device

DOCS = ["Berlin is the capital of Germany.", "Mount Berlin is a volcano in Antarctica, covered by ice." * 3]


class FakeSpaces(types.ModuleType):
    """``spaces`` as a ZeroGPU Space has it: ``GPU(duration=…)`` wraps a function whose
    arguments and result are pickled across (here, round-tripped through ``pickle``)."""

    def __init__(self) -> None:
        super().__init__("spaces")
        self.calls: list[dict] = []

    def GPU(self, duration):  # the package's name
        def wrap(fn):
            def crossed(*args):
                args = pickle.loads(pickle.dumps(args))
                result = pickle.loads(pickle.dumps(fn(*args)))
                self.calls.append({"args": args, "seconds": duration(*args), "result": result})
                return result

            return crossed

        return wrap


@pytest.fixture
def model(tiny_checkpoint):
    return colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def cpu_vectors(tiny_checkpoint) -> list[np.ndarray]:
    """The vectors of a plain CPU encode (off ZeroGPU)."""
    assert zerogpu.gpu_function() is None
    return encode_all(colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu"))


@pytest.fixture
def zero_gpu(monkeypatch):
    fake = FakeSpaces()
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv(zerogpu.ENV, "true")
    monkeypatch.setattr(zerogpu, "_decorated", None)
    return fake


def encode_all(model) -> list[np.ndarray]:
    analysis = model.analyze("What is the population of Berlin?", DOCS)
    return [analysis.query.vectors] + [d.vectors for d in analysis.documents]


def test_off_zero_gpu_spaces_is_not_used_and_the_encode_is_the_networks(model, monkeypatch):
    monkeypatch.delenv(zerogpu.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "spaces", None)  # importing it would fail
    assert zerogpu.gpu_function() is None
    item = model.tokenizer.tokenize_documents(DOCS[1:])[0]
    with torch.inference_mode():
        reference = F.normalize(model.network([torch.from_numpy(item.ids)], [None])[0].float(), dim=-1).numpy()
    np.testing.assert_array_equal(model.encode_documents(DOCS[1:])[0].vectors, reference)


def test_on_zero_gpu_every_encode_crosses_spaces_gpu_with_arrays_only(model, cpu_vectors, zero_gpu):
    got = encode_all(model)
    assert len(zero_gpu.calls) == 2  # the query, then the documents (one batch)
    for call in zero_gpu.calls:
        key, ids, masks = call["args"]
        assert isinstance(key, int)
        assert all(isinstance(i, np.ndarray) and i.dtype == np.int64 for i in ids)
        assert all(m is None or (isinstance(m, np.ndarray) and m.dtype == bool) for m in masks)
        assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in call["result"])
    for a, b in zip(got, cpu_vectors):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_the_duration_grows_with_the_tokens(model, zero_gpu):
    model.encode_documents(["short"])
    model.encode_documents(["a much longer document " * 400])
    short, long = (c["seconds"] for c in zero_gpu.calls)
    assert zerogpu.BASE_SECONDS < short < long <= zerogpu.MAX_SECONDS


def test_on_zero_gpu_the_server_process_loads_on_the_cpu(monkeypatch):
    monkeypatch.setenv(zerogpu.ENV, "true")
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # what spaces makes it say
    assert pick_device("auto").type == "cpu"
    monkeypatch.delenv(zerogpu.ENV)
    assert pick_device("auto").type == "cuda"


def test_a_failed_gpu_call_encodes_on_the_cpu(model, cpu_vectors, zero_gpu, monkeypatch, caplog):
    def refused(*args):
        raise RuntimeError("ZeroGPU quota exceeded")

    monkeypatch.setattr(zerogpu, "_decorated", refused)
    for a, b in zip(encode_all(model), cpu_vectors):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert "ZeroGPU call failed, encoding on the CPU: RuntimeError: ZeroGPU quota exceeded" in caplog.text


def test_the_int8_engine_stays_on_the_cpu(tiny_checkpoint, zero_gpu):
    colbert_viz.load(str(tiny_checkpoint), dtype="int8", device="cpu").encode_queries(["q"])
    assert zero_gpu.calls == []


def test_the_real_spaces_package_takes_the_function_and_is_a_no_op_off_zero_gpu(monkeypatch):
    monkeypatch.delenv(zerogpu.ENV, raising=False)
    spaces = pytest.importorskip("spaces")
    assert spaces.GPU(duration=zerogpu.duration)(zerogpu.encode) is zerogpu.encode
