"""Choosing the dtype: the ``auto`` rule and its probe, ``COLBERT_VIZ_DTYPE``,
and the opt-in int8 engine (dynamic int8 linear layers)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

import colbert_viz
from colbert_viz import cli
from colbert_viz.engine import dtype_cache, loading
from colbert_viz.engine.cache import VectorCache
from colbert_viz.engine.checkpoint import ModelLoadError
from colbert_viz.engine.encoder import ColbertModel

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
DOCS = ["Berlin is the capital of Germany.", "Paris ist die Hauptstadt Frankreichs.", "柏林是德国首都。"]
# int8 against float32 on the tiny checkpoint, Berlin set: largest score change 0.095 (scores ~27 of
# at most 32), smallest cosine between matching token vectors 0.9991. The bounds leave ~3x headroom
# and still catch a broken quantization (a 4-bit or misscaled layer moves scores by whole points).
INT8_SCORE_ATOL = 0.3
INT8_MIN_COSINE = 0.995


class FakeProbe:
    """Stands in for ``loading.probe_bf16``: fixed timings, counts its calls."""

    def __init__(self, float32_s: float, bfloat16_s: float, error: str = "") -> None:
        self.result = loading.Probe(float32_s, bfloat16_s, 0.038, error)
        self.calls: list[tuple] = []

    def __call__(self, device, hidden, intermediate):
        self.calls.append((device, hidden, intermediate))
        return self.result

    def cache_clear(self) -> None:
        """Like ``functools.cache``'s (``loading.reprobe`` calls it)."""


@pytest.fixture(autouse=True)
def _private_cache(private_dtype_cache):
    """Each test keeps its (often faked) decisions in a folder of its own."""


@pytest.fixture
def native_cpu_bf16(monkeypatch):
    monkeypatch.setattr(loading, "cpu_supports_bf16", lambda: True)


@pytest.fixture
def fresh_probe_cache():
    loading.probe_bf16.cache_clear()
    yield
    loading.probe_bf16.cache_clear()


# ---------------------------------------------------------------------------------
# the auto rule (timings mocked)
# ---------------------------------------------------------------------------------


def test_auto_picks_bfloat16_when_the_probe_finds_it_clearly_faster(monkeypatch, native_cpu_bf16,
                                                                    private_dtype_cache):
    probe = FakeProbe(float32_s=0.020, bfloat16_s=0.010)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    choice = loading.pick_dtype("auto", CPU, 1024, 4096)
    assert (choice.name, choice.torch_dtype) == ("bfloat16", torch.bfloat16)
    assert choice.reason == ("auto: bfloat16, 2.0× faster than float32 on this CPU "
                             f"(probe 38 ms, cached in {private_dtype_cache / 'dtype.json'})")
    assert probe.calls == [(CPU, 1024, 4096)]


def test_auto_keeps_float32_when_bfloat16_is_slower(monkeypatch, native_cpu_bf16):
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.010, bfloat16_s=0.017))
    choice = loading.pick_dtype("auto", CPU)
    assert (choice.name, choice.torch_dtype) == ("float32", torch.float32)
    assert choice.reason.startswith("auto: float32, 1.7× faster than bfloat16 on this CPU (probe 38 ms, cached in ")


def test_auto_keeps_float32_when_bfloat16_is_only_a_little_faster(monkeypatch, native_cpu_bf16):
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.012, bfloat16_s=0.010))
    choice = loading.pick_dtype("auto", CPU)
    assert choice.torch_dtype is torch.float32
    assert "bfloat16 only 1.20× faster" in choice.reason and "1.3×" in choice.reason


def test_auto_keeps_float32_when_the_probe_fails(monkeypatch, native_cpu_bf16, fresh_probe_cache,
                                                  private_dtype_cache):
    def broken(*args):
        raise RuntimeError("no bfloat16 kernel")

    monkeypatch.setattr(loading, "_linear_runner", broken)
    choice = loading.pick_dtype("auto", CPU, 96, 384)
    assert choice.torch_dtype is torch.float32
    assert choice.reason == "auto: float32, the bfloat16 probe failed (RuntimeError: no bfloat16 kernel)"
    assert not (private_dtype_cache / "dtype.json").exists()  # a failed probe is not kept: the next start tries again


def test_auto_skips_the_probe_without_native_bfloat16(monkeypatch):
    probe = FakeProbe(float32_s=0.020, bfloat16_s=0.001)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    monkeypatch.setattr(loading, "cpu_supports_bf16", lambda: False)
    choice = loading.pick_dtype("auto", CPU)
    assert choice.torch_dtype is torch.float32 and choice.reason == "auto: float32, no native bfloat16 on this CPU"
    assert probe.calls == []


def test_auto_on_cuda_ignores_emulated_bfloat16(monkeypatch):
    """``is_bf16_supported()`` says True on GPUs that only emulate bfloat16; auto must ask without emulation."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    probe = FakeProbe(float32_s=0.020, bfloat16_s=0.001)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    choice = loading.pick_dtype("auto", CUDA)
    assert choice.torch_dtype is torch.float32 and choice.reason == "auto: float32, no native bfloat16 on this GPU"
    assert probe.calls == []


def test_auto_on_cuda_with_native_bfloat16_follows_the_probe(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.004, bfloat16_s=0.001))
    assert loading.pick_dtype("auto", CUDA).torch_dtype is torch.bfloat16
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.001, bfloat16_s=0.001))
    loading.reprobe()
    assert loading.pick_dtype("auto", CUDA).torch_dtype is torch.float32


@pytest.mark.parametrize(("float32_s", "bfloat16_s", "error"), [
    (0.010, 0.001, ""), (0.001, 0.010, ""), (0.010, 0.010, ""), (float("nan"), float("nan"), "OSError: x"),
])
def test_auto_never_picks_int8(monkeypatch, native_cpu_bf16, float32_s, bfloat16_s, error):
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s, bfloat16_s, error))
    choice = loading.pick_dtype("auto", CPU)
    assert choice.name in ("float32", "bfloat16") and choice.name != "int8"
    assert choice.torch_dtype is loading.DTYPES[choice.name]


def test_explicit_dtypes_run_no_probe(monkeypatch):
    probe = FakeProbe(0.01, 0.01)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    assert loading.pick_dtype("float32", CPU) == loading.DtypeChoice("float32", torch.float32, "float32: asked for")
    assert loading.pick_dtype("bfloat16", CPU).torch_dtype is torch.bfloat16
    int8 = loading.pick_dtype("int8", CPU)
    assert (int8.name, int8.torch_dtype, int8.reason) == ("int8", torch.float32, loading.INT8_REASON)
    assert probe.calls == []


# ---------------------------------------------------------------------------------
# the probe itself
# ---------------------------------------------------------------------------------


def test_probe_runs_once_per_device_and_shapes(monkeypatch, native_cpu_bf16, fresh_probe_cache):
    built = []

    def runner(device, dtype, hidden, intermediate, tokens):
        built.append((dtype, hidden, intermediate))
        return lambda: None

    monkeypatch.setattr(loading, "_linear_runner", runner)
    for _ in range(3):
        loading.pick_dtype("auto", CPU, 64, 256)
    assert built == [(torch.float32, 64, 256), (torch.bfloat16, 64, 256)]
    loading.pick_dtype("auto", CPU, 32, 128)
    assert built[2:] == [(torch.float32, 32, 128), (torch.bfloat16, 32, 128)]


def test_probe_times_both_dtypes_for_real(fresh_probe_cache):
    probe = loading.probe_bf16(CPU, 64, 256)
    assert probe.error == ""
    assert 0 < probe.float32_s < probe.elapsed_s and 0 < probe.bfloat16_s < probe.elapsed_s
    assert probe.speedup == probe.float32_s / probe.bfloat16_s


def test_linear_runner_computes_the_model_shapes(monkeypatch):
    """The probe runs fc1 (hidden → intermediate) and fc2 (intermediate → hidden)."""
    shapes = []
    real_linear = torch.nn.functional.linear

    def spy(x, w, *rest):
        shapes.append((tuple(x.shape), tuple(w.shape), x.dtype))
        return real_linear(x, w, *rest)

    monkeypatch.setattr(loading.F, "linear", spy)
    loading._linear_runner(CPU, torch.bfloat16, 48, 192, 8)()
    assert shapes == [((8, 48), (192, 48), torch.bfloat16), ((8, 192), (48, 192), torch.bfloat16)]


# ---------------------------------------------------------------------------------
# the decision, taken once per machine (dtype_cache)
# ---------------------------------------------------------------------------------

FRESH_PROCESS = """
import json, sys, torch
from colbert_viz.engine import loading
calls = []
def probe(device, hidden, intermediate):
    calls.append((hidden, intermediate))
    return loading.Probe(float(sys.argv[1]), float(sys.argv[2]), 0.04)
loading.probe_bf16 = probe
loading.cpu_supports_bf16 = lambda: True
choice = loading.pick_dtype("auto", torch.device("cpu"), 64, 128)
print(json.dumps({"calls": len(calls), "dtype": choice.name, "reason": choice.reason}))
"""


def fresh_process(float32_s: float, bfloat16_s: float) -> dict:
    """``pick_dtype("auto")`` in a new Python process whose probe would report these timings."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(float32_s), str(bfloat16_s)],
                          capture_output=True, text=True, env=dict(os.environ), timeout=120, check=True)
    return json.loads(done.stdout)


def test_a_fresh_process_reads_the_kept_decision_and_does_not_probe(private_dtype_cache):
    first = fresh_process(0.030, 0.010)
    path = private_dtype_cache / "dtype.json"
    assert first == {"calls": 1, "dtype": "bfloat16",
                     "reason": f"auto: bfloat16, 3.0× faster than float32 on this CPU (probe 40 ms, cached in {path})"}
    second = fresh_process(0.010, 0.030)  # a restart on a busy machine: its probe would now say float32
    assert second["calls"] == 0 and second["dtype"] == "bfloat16"
    assert re.fullmatch(r"auto: bfloat16, 3\.0× faster than float32 on this CPU "
                        rf"\(probed \d{{4}}-\d\d-\d\d, cached in {re.escape(str(path))}\)", second["reason"])


def test_the_file_says_what_was_measured(private_dtype_cache, monkeypatch, native_cpu_bf16):
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.030, bfloat16_s=0.010))
    monkeypatch.setattr(dtype_cache, "_cpuinfo", lambda: {"model name": "Xeon X", "flags": "sse avx512_bf16 amx_tile"})
    loading.pick_dtype("auto", CPU, 64, 128)
    data = json.loads((private_dtype_cache / "dtype.json").read_text(encoding="utf-8"))
    ((key, entry),) = data["decisions"].items()
    assert data["format"] == 1
    assert json.loads(key) == {"cpu": "Xeon X", "flags": ["avx512_bf16", "amx_tile"], "torch": torch.__version__,
                               "capability": torch.backends.cpu.get_cpu_capability(), "shapes": [64, 128, 64],
                               "margin": loading.BF16_MARGIN}
    assert entry["dtype"] == "bfloat16" and entry["why"] == "auto: bfloat16, 3.0× faster than float32 on this CPU"
    assert list(private_dtype_cache.glob(".dtype.json.*")) == []  # no temporary file left behind


@pytest.mark.parametrize("change", ["torch", "cpu", "flags", "shapes"])
def test_a_changed_key_probes_again(private_dtype_cache, monkeypatch, native_cpu_bf16, change):
    probe = FakeProbe(float32_s=0.030, bfloat16_s=0.010)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    cpu = {"model name": "Xeon X", "flags": "avx512_bf16"}
    monkeypatch.setattr(dtype_cache, "_cpuinfo", lambda: cpu)
    for _ in range(2):
        assert loading.pick_dtype("auto", CPU, 64, 128).name == "bfloat16"
    assert len(probe.calls) == 1
    shapes = (64, 128)
    if change == "torch":
        monkeypatch.setattr(torch, "__version__", "9.9.9")
    elif change == "cpu":
        cpu = {"model name": "EPYC Y", "flags": "avx512_bf16"}
    elif change == "flags":
        cpu = {"model name": "Xeon X", "flags": "avx512_bf16 amx_bf16 amx_tile"}
    else:
        shapes = (96, 384)
    loading.pick_dtype("auto", CPU, *shapes)
    assert len(probe.calls) == 2
    data = json.loads((private_dtype_cache / "dtype.json").read_text(encoding="utf-8"))
    assert len(data["decisions"]) == 2  # the other machine's decision stays


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"format": 1, "decisions": []}',
                                     b'{"format": 99, "decisions": {}}', b"\xff\xfe\x00"])
def test_a_corrupt_file_falls_back_to_probing_and_is_replaced(private_dtype_cache, monkeypatch, native_cpu_bf16,
                                                              content):
    path = private_dtype_cache / "dtype.json"
    path.parent.mkdir()
    path.write_bytes(content)
    probe = FakeProbe(float32_s=0.030, bfloat16_s=0.010)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    choice = loading.pick_dtype("auto", CPU, 64, 128)
    assert choice.name == "bfloat16" and len(probe.calls) == 1
    assert choice.reason.startswith(f"auto: bfloat16, 3.0× faster than float32 on this CPU (probe 38 ms, cached in "
                                    f"{path}; the unreadable dtype.json (")
    assert choice.reason.endswith(") was replaced)")
    assert "probed" in loading.pick_dtype("auto", CPU, 64, 128).reason and len(probe.calls) == 1  # read back


def test_an_entry_of_an_unknown_dtype_is_ignored(private_dtype_cache, monkeypatch, native_cpu_bf16):
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.030, bfloat16_s=0.010))
    key = dtype_cache.decision_key(CPU, 64, 128, loading.PROBE_TOKENS, loading.BF16_MARGIN)
    private_dtype_cache.mkdir()
    (private_dtype_cache / "dtype.json").write_text(json.dumps(
        {"format": 1, "decisions": {key: {"dtype": "float16", "why": "x", "probed": "2026-01-01"}}}))
    assert loading.pick_dtype("auto", CPU, 64, 128).name == "bfloat16"


def test_an_unwritable_cache_probes_and_says_so(tmp_path, monkeypatch, native_cpu_bf16):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COLBERT_VIZ_CACHE_DIR", str(blocker))
    probe = FakeProbe(float32_s=0.030, bfloat16_s=0.010)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    choice = loading.pick_dtype("auto", CPU, 64, 128)
    assert choice.name == "bfloat16"
    assert choice.reason.startswith(f"auto: bfloat16, 3.0× faster than float32 on this CPU (probe 38 ms; not cached, "
                                    f"{blocker / 'dtype.json'}: ")
    assert blocker.read_text() == "not a folder"


def test_reprobe_forgets_and_the_next_load_probes(private_dtype_cache, monkeypatch, native_cpu_bf16):
    probe = FakeProbe(float32_s=0.030, bfloat16_s=0.010)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    loading.pick_dtype("auto", CPU, 64, 128)
    loading.pick_dtype("auto", CPU, 64, 128)
    assert len(probe.calls) == 1
    assert loading.reprobe() == private_dtype_cache / "dtype.json"
    assert not (private_dtype_cache / "dtype.json").exists()
    loading.pick_dtype("auto", CPU, 64, 128)
    assert len(probe.calls) == 2 and (private_dtype_cache / "dtype.json").exists()
    assert loading.reprobe() == private_dtype_cache / "dtype.json"  # twice: nothing left to forget, no error


def test_probe_again_from_the_environment_replaces_the_decision(private_dtype_cache, monkeypatch, native_cpu_bf16):
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.030, bfloat16_s=0.010))
    assert loading.pick_dtype("auto", CPU, 64, 128).name == "bfloat16"
    slower = FakeProbe(float32_s=0.010, bfloat16_s=0.030)
    monkeypatch.setattr(loading, "probe_bf16", slower)
    monkeypatch.setenv("COLBERT_VIZ_DTYPE_PROBE", "again")
    assert loading.pick_dtype("auto", CPU, 64, 128).name == "float32" and len(slower.calls) == 1
    monkeypatch.delenv("COLBERT_VIZ_DTYPE_PROBE")
    assert loading.pick_dtype("auto", CPU, 64, 128).name == "float32" and len(slower.calls) == 1  # kept


def test_probe_again_accepts_only_again(monkeypatch, native_cpu_bf16):
    monkeypatch.setattr(loading, "probe_bf16", FakeProbe(float32_s=0.030, bfloat16_s=0.010))
    monkeypatch.setenv("COLBERT_VIZ_DTYPE_PROBE", "yes")
    with pytest.raises(ModelLoadError, match="COLBERT_VIZ_DTYPE_PROBE must be 'again' or unset; got 'yes'"):
        loading.pick_dtype("auto", CPU, 64, 128)
    assert loading.pick_dtype("float32", CPU).name == "float32"  # only auto reads it


def test_two_loads_at_once_probe_once(private_dtype_cache, monkeypatch, native_cpu_bf16):
    """The lock: a second process (here a thread, with its own open file) waits for the first one's probe."""
    import threading
    import time

    probe = FakeProbe(float32_s=0.030, bfloat16_s=0.010)

    def slow(*args):
        time.sleep(0.3)
        return probe(*args)

    monkeypatch.setattr(loading, "probe_bf16", slow)
    names: list[str] = []
    threads = [threading.Thread(target=lambda: names.append(loading.pick_dtype("auto", CPU, 64, 128).name))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert names == ["bfloat16", "bfloat16"] and len(probe.calls) == 1


def test_the_reason_shows_the_home_folder_as_a_tilde(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ada")
    assert dtype_cache.shown_path(dtype_cache.Path("/home/ada/.cache/colbert-viz/dtype.json")) == \
        "~/.cache/colbert-viz/dtype.json"
    assert dtype_cache.shown_path(dtype_cache.Path("/srv/cache/dtype.json")) == "/srv/cache/dtype.json"


# ---------------------------------------------------------------------------------
# COLBERT_VIZ_DTYPE
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (None, "auto"), ("", "auto"), ("float32", "float32"), ("bfloat16", "bfloat16"), (" INT8\n", "int8"),
    ("auto", "auto"),
])
def test_dtype_from_env(value, expected):
    environ = {} if value is None else {"COLBERT_VIZ_DTYPE": value}
    assert loading.dtype_from_env(environ) == expected


@pytest.mark.parametrize("value", ["float16", "fp32", "int4"])
def test_dtype_from_env_names_the_variable_and_value(value):
    with pytest.raises(ValueError, match=f"environment variable COLBERT_VIZ_DTYPE must be one of "
                                         f"auto, float32, bfloat16, int8; got '{value}'"):
        loading.dtype_from_env({"COLBERT_VIZ_DTYPE": value})


def test_dtype_from_env_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("COLBERT_VIZ_DTYPE", "int8")
    assert loading.dtype_from_env() == "int8"
    monkeypatch.delenv("COLBERT_VIZ_DTYPE")
    assert loading.dtype_from_env() == "auto"


# ---------------------------------------------------------------------------------
# load() and the CLI
# ---------------------------------------------------------------------------------


def test_load_auto_reports_the_choice_and_probes_the_config_shapes(tiny_checkpoint, monkeypatch, native_cpu_bf16):
    probe = FakeProbe(float32_s=0.010, bfloat16_s=0.030)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    model = colbert_viz.load(tiny_checkpoint, dtype="auto", device="cpu")
    assert probe.calls == [(CPU, 64, 128)]  # TINY: hidden 64, intermediate 128
    assert model.info.dtype == "float32" and model.dtype is torch.float32
    assert model.info.dtype_reason.startswith("auto: float32, 3.0× faster than bfloat16 on this CPU (probe 38 ms, ")
    faster = FakeProbe(float32_s=0.030, bfloat16_s=0.010)
    monkeypatch.setattr(loading, "probe_bf16", faster)
    model = colbert_viz.load(tiny_checkpoint, dtype="auto", device="cpu")
    assert model.info.dtype == "float32" and faster.calls == []  # the kept decision, not a new probe
    loading.reprobe()
    model = colbert_viz.load(tiny_checkpoint, dtype="auto", device="cpu")
    assert model.info.dtype == "bfloat16" and model.network.module.linear.weight.dtype is torch.bfloat16


def test_cli_verbose_line(tiny_checkpoint, tmp_path, capsys):
    texts = tmp_path / "q.json"
    texts.write_text(json.dumps(["Hello World"]))
    args = ["encode", "--model", str(tiny_checkpoint), "--dtype", "int8", "--device", "cpu",
            "--input-type", "query", str(texts)]
    assert cli.main([*args, "--verbose"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ("colbert-viz: tiny-jina (local checkpoint) on cpu, "
                            "int8: dynamic int8 linear layers (approximate)\n")
    assert len(json.loads(captured.out)["data"][0]["embeddings"]) == 32
    assert cli.main(args) == 0
    assert capsys.readouterr().err == ""


def test_cli_reprobe_dtype_measures_again(tiny_checkpoint, tmp_path, capsys, monkeypatch, native_cpu_bf16,
                                          private_dtype_cache):
    texts = tmp_path / "q.json"
    texts.write_text(json.dumps(["Hello World"]))
    probe = FakeProbe(float32_s=0.030, bfloat16_s=0.010)
    monkeypatch.setattr(loading, "probe_bf16", probe)
    args = ["encode", "--model", str(tiny_checkpoint), "--device", "cpu", "--input-type", "query", "--verbose",
            str(texts)]
    for extra in ([], [], ["--reprobe-dtype"]):
        assert cli.main([*args, *extra]) == 0
    assert len(probe.calls) == 2  # the first run, then --reprobe-dtype; not the second run
    err = capsys.readouterr().err.splitlines()
    assert [("(probe 38 ms, cached in" in line, "(probed " in line) for line in err] == [
        (True, False), (False, True), (True, False)]


# ---------------------------------------------------------------------------------
# the int8 engine
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def int8_model(tiny_checkpoint):
    return colbert_viz.load(str(tiny_checkpoint), dtype="int8", device="cpu")


def test_int8_loads_with_its_name_and_reason(int8_model):
    assert int8_model.info.dtype == "int8" and int8_model.dtype is torch.float32
    assert int8_model.info.dtype_reason == "int8: dynamic int8 linear layers (approximate)"


def test_int8_quantizes_every_backbone_linear_and_keeps_the_head(int8_model, tiny_model):
    module = int8_model.network.module
    names = [name for name, m in tiny_model.network.module.roberta.named_modules() if isinstance(m, nn.Linear)]
    assert len(names) == 4 * 2  # Wqkv, out_proj, fc1, fc2 in each of the 2 layers
    for name in names:
        layer = module.roberta.get_submodule(name)
        assert isinstance(layer, DynamicInt8Linear), name
        assert layer.weight().dtype is torch.qint8
    assert type(module.linear) is nn.Linear and module.linear.weight.dtype is torch.float32


def test_int8_encodes_finite_normalised_vectors_close_to_float32(int8_model, tiny_model, berlin):
    a = tiny_model.analyze(berlin["query"], berlin["documents"])
    b = int8_model.analyze(berlin["query"], berlin["documents"])
    for x, y in zip([a.query, *a.documents], [b.query, *b.documents]):
        assert y.tokens == x.tokens and np.isfinite(y.vectors).all()
        np.testing.assert_allclose(np.linalg.norm(y.vectors, axis=1), 1.0, atol=1e-5)
        assert (x.vectors * y.vectors).sum(axis=1).min() >= INT8_MIN_COSINE
    change = np.abs(np.array(a.scores(128)) - np.array(b.scores(128)))
    assert change.max() <= INT8_SCORE_ATOL
    assert change.max() > 1e-4  # it did run in int8: not the float32 result


def test_int8_and_float32_vectors_never_mix_in_a_shared_cache(tiny_checkpoint, int8_model, tiny_model):
    shared = VectorCache()
    f32 = ColbertModel(tiny_model.info, tiny_model.tokenizer, tiny_model.network, tiny_model.device,
                       tiny_model.dtype, shared)
    int8 = ColbertModel(int8_model.info, int8_model.tokenizer, int8_model.network, int8_model.device,
                        int8_model.dtype, shared)
    assert f32.info.path == int8.info.path  # the same checkpoint: only the dtype tells them apart
    first = f32.encode_documents(DOCS)
    second = int8.encode_documents(DOCS)
    for x, y in zip(first, second):
        assert not np.array_equal(x.vectors, y.vectors)
    assert len(shared) == 2 * len(DOCS)
    again = f32.encode_documents(DOCS)  # from the cache, still the float32 vectors
    assert all(np.array_equal(x.vectors, y.vectors) for x, y in zip(first, again))


def test_int8_is_refused_on_cuda_before_any_file_is_read(monkeypatch, tmp_path):
    monkeypatch.setattr(loading, "pick_device", lambda device: CUDA)
    with pytest.raises(ValueError, match=r"dtype int8 runs on the CPU only; device cuda was chosen"):
        colbert_viz.load(tmp_path / "does-not-exist", dtype="int8", device="cuda")
    with pytest.raises(ValueError, match="int8 runs on the CPU only"):
        loading.pick_dtype("int8", CUDA)


def test_bad_dtype_names_the_choices(tiny_checkpoint):
    with pytest.raises(ValueError, match=r"dtype must be auto, float32, bfloat16 or int8; got 'float16'"):
        colbert_viz.load(tiny_checkpoint, dtype="float16", device="cpu")
