"""The model registry: one lock per model, retry after a pause, the dtype from the environment."""

from __future__ import annotations

import threading
import time

import pytest

from colbert_viz.app import registry as registry_module
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.engine.checkpoint import ModelLoadError


@pytest.mark.parametrize("other, preloaded", [("loaded", {"loaded": "model loaded"}), ("quick", {})])
def test_a_model_does_not_wait_for_another_models_load(other, preloaded):
    """Loaded already, or loading now itself: a request for ``other`` is answered while "slow" loads."""
    started, release = threading.Event(), threading.Event()

    def loader(name):
        if name == "slow":
            started.set()
            release.wait(10)
        return f"model {name}"

    registry = ModelRegistry(preloaded, choices=[other, "slow"], loader=loader)
    thread = threading.Thread(target=registry.get, args=("slow",))
    thread.start()
    try:
        assert started.wait(5)
        t0 = time.perf_counter()
        assert registry.get(other) == f"model {other}"
        assert time.perf_counter() - t0 < 0.5
    finally:
        release.set()
        thread.join(5)
    assert registry.get("slow") == "model slow"


def test_concurrent_requests_for_one_model_load_it_once():
    calls = []

    def loader(name):
        calls.append(name)
        time.sleep(0.2)
        return object()

    registry = ModelRegistry(choices=["m"], loader=loader)
    results = []
    threads = [threading.Thread(target=lambda: results.append(registry.get("m"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert calls == ["m"] and len(results) == 4 and all(r is results[0] for r in results)


def test_a_failed_load_is_retried_after_the_pause():
    now = [1000.0]
    calls = []

    def loader(name):
        calls.append(name)
        if len(calls) == 1:
            raise ModelLoadError("the hub cannot be reached")
        return "model"

    registry = ModelRegistry(choices=["m"], loader=loader, retry_after_s=60, clock=lambda: now[0])
    with pytest.raises(ModelLoadError, match=r"^the hub cannot be reached$"):
        registry.get("m")
    now[0] += 18
    with pytest.raises(ModelLoadError, match=r"^the hub cannot be reached \(retry in 42 s\)$"):
        registry.get("m")
    now[0] += 41.5
    with pytest.raises(ModelLoadError, match=r"\(retry in 1 s\)"):
        registry.get("m")
    assert calls == ["m"]
    now[0] += 0.5
    assert registry.get("m") == "model"
    assert calls == ["m", "m"] and "m" not in registry.failed


def test_default_loader_passes_the_dtype_from_the_environment(monkeypatch):
    seen = {}

    def fake_load(name, dtype="auto"):
        seen[name] = dtype
        return name

    monkeypatch.setattr("colbert_viz.engine.loading.load", fake_load)
    monkeypatch.setenv("COLBERT_VIZ_DTYPE", "float32")
    assert registry_module._load("a") == "a"
    monkeypatch.delenv("COLBERT_VIZ_DTYPE")
    registry_module._load("b")
    assert seen == {"a": "float32", "b": "auto"}


def test_a_bad_dtype_variable_is_a_load_error(monkeypatch):
    from colbert_viz.app.registry import ModelRegistry
    from colbert_viz.engine.checkpoint import ModelLoadError

    monkeypatch.setenv("COLBERT_VIZ_DTYPE", "float8")
    registry = ModelRegistry(choices=["offline"])
    with pytest.raises(ModelLoadError, match="COLBERT_VIZ_DTYPE"):
        registry.get("offline")


@pytest.mark.parametrize(("dtype", "device"), [("float32", "cuda:0"), ("int8", "cpu")])
def test_a_variant_loads_once_from_the_same_files(monkeypatch, dtype, device):
    """The exact float32 engine runs where the model runs; int8 only on the CPU."""
    from types import SimpleNamespace

    from colbert_viz.engine import loading

    base = SimpleNamespace(info=SimpleNamespace(path="/models/m", device="cuda:0"))
    loads = []
    monkeypatch.setattr(loading, "load", lambda path, dtype, device: loads.append((path, dtype, device)) or object())
    registry = ModelRegistry({"m": base}, model_bytes=lambda model: 0)
    first = registry.variant("m", dtype)
    assert registry.variant("m", dtype) is first and registry.models[f"m [{dtype}]"] is first
    assert loads == [("/models/m", dtype, device)]
class Info:
    def __init__(self, name):
        self.path, self.display_name, self.device = f"/srv/{name}", name, "cpu"


class Fake:
    def __init__(self, name):
        self.info = Info(name)


def test_variants_are_counted_in_their_budget_and_refused_beyond_it():
    loads = []

    def variant_loader(path, dtype, device):
        loads.append((path, dtype))
        return f"{path} as {dtype}"

    registry = ModelRegistry({"a": Fake("a"), "b": Fake("b")}, variant_bytes=250, variant_loader=variant_loader,
                             model_bytes=lambda model: 100)
    assert registry.variant("a", "int8") == "/srv/a as int8" and registry.variant_used == 100
    assert registry.variant("a", "int8") == "/srv/a as int8" and loads == [("/srv/a", "int8")]  # once
    registry.variant("a", "float32")
    assert registry.variant_used == 200
    with pytest.raises(ModelLoadError, match=r"^Not enough memory for the int8 engine of b: it needs about 0 MB, "
                                             r"and 0 MB of the 0 MB for extra models and engines "
                                             r"\(COLBERT_VIZ_VARIANT_MEMORY_MB\) are taken\.$"):
        registry.variant("b", "int8")
    assert registry.variant_used == 200 and len(loads) == 2


def test_a_failed_variant_load_gives_its_memory_back():
    def variant_loader(path, dtype, device):
        raise ModelLoadError("no int8 here")

    registry = ModelRegistry({"a": Fake("a")}, variant_bytes=150, variant_loader=variant_loader,
                             model_bytes=lambda model: 100)
    for _ in range(2):
        with pytest.raises(ModelLoadError, match="no int8 here"):
            registry.variant("a", "int8")
    assert registry.variant_used == 0


def test_the_variant_budget_comes_from_the_environment(monkeypatch):
    from colbert_viz.app.registry import model_bytes

    monkeypatch.setenv("COLBERT_VIZ_VARIANT_MEMORY_MB", "512")
    assert ModelRegistry({"a": Fake("a")}).variant_budget == 512 * 2**20
    monkeypatch.delenv("COLBERT_VIZ_VARIANT_MEMORY_MB")
    assert ModelRegistry({"a": Fake("a")}).variant_budget == 6144 * 2**20
    torch = pytest.importorskip("torch")

    class Network:
        def __init__(self):
            self.module = torch.nn.Linear(10, 3)
            self.head = self.module  # shared: counted once

    model = Fake("m")
    model.network = Network()
    assert model_bytes(model) == 4 * (10 * 3 + 3)


def test_dedicated_heads_are_offered_from_the_environment_and_share_the_loaded_backbone(tiny_checkpoint, tmp_path):
    from colbert_viz.app.registry import ModelRegistry, head_choices, model_choices
    from colbert_viz.engine.synthetic import write_sibling

    sibling = write_sibling(tiny_checkpoint, tmp_path / "tiny-96", 96)
    base = str(tiny_checkpoint)
    env = {"COLBERT_VIZ_MODEL": base, "COLBERT_VIZ_HEADS": f" {sibling} ,"}
    assert head_choices(base, env) == [f"{base}+head:{sibling}"]
    assert head_choices(base, {"COLBERT_VIZ_HEADS": "none"}) == []
    assert head_choices(base, {}) == []  # not the hub model: nothing guessed
    assert model_choices(base, env)[-1] == f"{base}+head:{sibling}"
    loads = []

    def loader(name):
        loads.append(name)
        import colbert_viz

        return colbert_viz.load(name, dtype="float32", device="cpu")

    registry = ModelRegistry(choices=model_choices(base, env), default=base, loader=loader)
    label = registry.labels()[f"{base}+head:{sibling}"]
    assert label == "tiny-jina (local checkpoint) · head of tiny-96 (local checkpoint)" and str(tmp_path) not in label
    head = registry.get(label)
    assert head.info.dim == 96 and loads == [base]  # the base loaded once, through the loader
    assert head.network.roberta is registry.get(base).network.module.roberta



def test_a_second_model_counts_against_the_budget_before_it_loads(tiny_checkpoint):
    """The default is free; any other model is counted from its files' headers before it loads and
    refused when it does not fit; a refused or failed load gives its bytes back."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from colbert_viz.app.registry import checkpoint_bytes
    from colbert_viz.engine.checkpoint import parameter_count

    numel = sum(t.numel() for t in load_file(str(tiny_checkpoint / "model.safetensors")).values())
    assert parameter_count(tiny_checkpoint) == numel and checkpoint_bytes(str(tiny_checkpoint)) == 4 * numel
    loads = []

    def loader(name):
        loads.append(name)
        if name == "broken":
            raise ModelLoadError("broken")
        return SimpleNamespace(info=SimpleNamespace(display_name=name))

    sizes = {"default": 10**9, "small": 100, "big": 10**9, "broken": 50}
    registry = ModelRegistry(choices=list(sizes), default="default", loader=loader, variant_bytes=1000,
                             estimate=lambda name: sizes[name])
    registry.get("default")
    registry.get("small")
    assert registry.variant_used == 100
    with pytest.raises(ModelLoadError, match="Not enough memory for the model big: it needs about"):
        registry.get("big")
    assert "big" not in loads and registry.variant_used == 100
    with pytest.raises(ModelLoadError, match="broken"):
        registry.get("broken")
    assert registry.variant_used == 100



def test_a_head_equal_to_the_cut_is_not_offered_twice(tiny_checkpoint, tmp_path):
    from colbert_viz.app.registry import ModelRegistry
    from colbert_viz.engine.synthetic import write_sibling

    sibling = write_sibling(tiny_checkpoint, tmp_path / "tiny-64", 64, cut=True)
    base, head = str(tiny_checkpoint), f"{tiny_checkpoint}+head:{sibling}"

    def loader(name):
        import colbert_viz

        return colbert_viz.load(name, dtype="float32", device="cpu")

    registry = ModelRegistry(choices=[base, head], default=base, loader=loader)
    with pytest.raises(ModelLoadError, match=r"first 64 rows of the 128-d head.*choose tiny-jina \(local "
                                             r"checkpoint\) at 64 dimensions$"):
        registry.get(head)
