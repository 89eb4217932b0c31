"""The models the app offers: loaded once, kept in a dict, chosen by name.

The page offers a fixed list (no free-text paths, for a public Space):

- the default: ``COLBERT_VIZ_MODEL`` if set (hub id or local folder), else
  ``jinaai/jina-colbert-v2``;
- ``offline``: the small built-in fallback;
- extra ids from ``COLBERT_VIZ_MODELS`` (comma-separated).

The menu's values are labels (``ModelRegistry.menu``: a hub id as itself, a local
folder by its last component), never a server path; ``resolve`` maps a label back.

Jina's API (``jina-api:jina-colbert-v2``) is on offer too (``api_models``), shown in
the menu once the user has typed a key (``menu(api=True)``): the registry holds a
template without a key (the tokenizer, read once); each Run calls
``ApiEncoder.with_key`` with the key of its page, which is never kept here.

The default is loaded at start-up (``start``); when it cannot be loaded the app
starts on the offline model and says why. Other models load on first use, each
under its own lock: a request on a loaded model never waits for another's load.
A failed load is remembered for ``retry_after_s`` (60 s), then tried again.
``COLBERT_VIZ_DTYPE`` (default ``auto``) is the dtype models load in.

A second model (any model but the default: another checkpoint from the menu, a
model for the comparison) and a variant (the same checkpoint loaded again in
another dtype: the int8 engine, float32 next to bfloat16) are counted against
``COLBERT_VIZ_VARIANT_MEMORY_MB`` (default 6144) before they load, at 4 bytes per
parameter (read from the checkpoint's file headers; a variant loads in float32
first); one that does not fit is refused with a message. A dedicated head is not
counted: its backbone is the base model's, and its head is 0.5 MB.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from colbert_viz.app.limits import MB
from colbert_viz.checks import positive_int_env
from colbert_viz.engine.checkpoint import DEFAULT_MODEL, OFFLINE, ModelLoadError

Loader = Callable[[str], object]
VariantLoader = Callable[[str, str, str], object]  # (path, dtype, device) -> model
VARIANT_ENV = "COLBERT_VIZ_VARIANT_MEMORY_MB"
DEFAULT_VARIANT_MB = 6144
API_MODELS = ("jina-api:jina-colbert-v2",)  # colbert_viz.engine.api_encoder.API_MODEL (not imported: torch)
HEAD_SEP = "+head:"  # "BASE+head:SIBLING": BASE's backbone with SIBLING's dedicated head (colbert_viz.engine.heads)


def default_model_name(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("COLBERT_VIZ_MODEL", "").strip() or DEFAULT_MODEL


JINA_SIBLINGS = ("jinaai/jina-colbert-v2-96", "jinaai/jina-colbert-v2-64")


def model_choices(default: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The default, ``offline``, ``COLBERT_VIZ_MODELS`` entries, then the default's dedicated heads
    (``head_choices``), without repeats."""
    environ = os.environ if environ is None else environ
    extra = [m.strip() for m in environ.get("COLBERT_VIZ_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys([default, OFFLINE, *extra, *head_choices(default, environ)]))


def head_choices(default: str, environ: Mapping[str, str]) -> list[str]:
    """``DEFAULT+head:SIBLING`` for each sibling in ``COLBERT_VIZ_HEADS`` (comma-separated hub ids or
    folders), or, without it, for jina-colbert-v2's ``-96``/``-64`` siblings already in the local
    Hugging Face cache (nothing is downloaded to find out; ``COLBERT_VIZ_HEADS=none`` offers none)."""
    named = environ.get("COLBERT_VIZ_HEADS", "").strip()
    if named.lower() == "none":
        return []
    if named:
        siblings = [s.strip() for s in named.split(",") if s.strip()]
    elif default == DEFAULT_MODEL:
        siblings = [s for s in JINA_SIBLINGS if _cached(s)]
    else:
        siblings = []
    return [f"{default}{HEAD_SEP}{s}" for s in siblings]


def _cached(repo: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo, "config.json"), str)
    except Exception:  # no hub library or a broken cache: nothing is offered
        return False


RETRY_AFTER_S = 60.0


def model_label(name: str) -> str:
    """The model menu's label for ``name``: a local folder by its last component,
    never the server's path.

    >>> model_label("/srv/models/tiny-jina/")
    'tiny-jina (local checkpoint)'
    >>> model_label("jinaai/jina-colbert-v2")
    'jinaai/jina-colbert-v2'
    >>> model_label("jinaai/jina-colbert-v2+head:/srv/jina-colbert-v2-96")
    'jinaai/jina-colbert-v2 · head of jina-colbert-v2-96 (local checkpoint)'
    """
    if HEAD_SEP in name:
        base, sibling = name.split(HEAD_SEP, 1)
        return f"{model_label(base)} · head of {model_label(sibling)}"
    if name.startswith(("/", "~", ".")) or "\\" in name or Path(name).expanduser().is_dir():
        return f"{Path(name.rstrip('/')).name or 'model'} (local checkpoint)"
    return name


def model_bytes(model) -> int:
    """4 bytes per parameter of ``model``'s torch modules: what loading it again in
    float32 takes (int8 loads float32 weights, then quantizes)."""
    import torch

    modules = [m for m in vars(model.network).values() if isinstance(m, torch.nn.Module)]
    params = {id(p): p.numel() for m in modules for p in m.parameters()}
    return 4 * sum(params.values())


def checkpoint_bytes(name: str) -> int:
    """4 bytes per parameter of the checkpoint ``name`` (its files are fetched if needed, not loaded);
    0 where it cannot be found (the load then says why)."""
    from colbert_viz.engine.checkpoint import parameter_count, resolve
    from colbert_viz.engine.loading import backbone_dir

    try:
        return 4 * parameter_count(backbone_dir(resolve(name)))
    except (ModelLoadError, OSError, ValueError, KeyError):
        return 0


def _load_variant(path: str, dtype: str, device: str):
    from colbert_viz.engine.loading import load

    try:
        return load(path, dtype=dtype, device=device)
    except ValueError as err:
        raise ModelLoadError(str(err)) from err


def _load_api(name: str):
    """The keyless template of an API model (``ApiEncoder.with_key`` makes one that calls the API)."""
    from colbert_viz.engine.api_encoder import ApiEncoder, api_tokenizer

    return ApiEncoder(api_tokenizer(), None)


def _load(name: str):
    from colbert_viz.engine.api_encoder import is_api_model
    from colbert_viz.engine.loading import dtype_from_env, load

    if is_api_model(name):
        return _load_api(name)

    try:
        dtype = dtype_from_env()
    except ValueError as err:  # a bad COLBERT_VIZ_DTYPE: said on the page, like any load failure
        raise ModelLoadError(str(err)) from None
    return load(name, dtype=dtype)


class ModelRegistry:
    """Loaded models by name, loading each at most once at a time (thread-safe).

    ``models`` may hold models loaded already; ``choices`` lists every name the
    page offers (default: the names in ``models``). Each name has its own lock,
    so a slow load blocks only requests for that model. A name whose load
    failed is refused with its error for ``retry_after_s`` seconds (measured
    with ``clock``), then loaded again on the next request.
    """

    def __init__(self, models: Mapping[str, object] | None = None, choices: list[str] | None = None,
                 default: str | None = None, loader: Loader = _load, retry_after_s: float = RETRY_AFTER_S,
                 clock: Callable[[], float] = time.monotonic, variant_bytes: int | None = None,
                 variant_loader: VariantLoader = _load_variant,
                 model_bytes: Callable[[object], int] = model_bytes, api_models: Sequence[str] = API_MODELS,
                 estimate: Callable[[str], int] | None = None) -> None:
        self.models: dict[str, object] = dict(models or {})
        self.api_models = [m for m in api_models if m not in (choices or list(self.models))]
        self.choices = list(dict.fromkeys(choices or list(self.models)))
        if not self.choices:
            raise ValueError("a model registry needs at least one model name")
        self.default = default or self.choices[0]
        if self.default not in self.choices:
            self.choices.insert(0, self.default)
        self.loader = loader
        self.retry_after_s = retry_after_s
        self.clock = clock
        self.failed: dict[str, tuple[str, float]] = {}  # name → (error, when)
        self.startup_note = ""
        self.variant_budget = variant_bytes if variant_bytes is not None else \
            positive_int_env(VARIANT_ENV, DEFAULT_VARIANT_MB) * MB
        self.variant_used = 0  # bytes counted for the variants loaded or loading
        self.variant_loader = variant_loader
        self.model_bytes = model_bytes
        self.estimate = estimate or checkpoint_bytes  # bytes a model will take, before it loads
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, loader: Loader = _load) -> ModelRegistry:
        default = default_model_name(environ)
        return cls(choices=model_choices(default, environ), default=default, loader=loader)

    def labels(self) -> dict[str, str]:
        """Each name on offer → its menu label (``model_label``, numbered where two are alike);
        the API models last, as themselves."""
        labels: dict[str, str] = {}
        for name in self.choices:
            label, n = model_label(name), 2
            while label in labels.values():
                label, n = f"{model_label(name)} {n}", n + 1
            labels[name] = label
        return {**labels, **{name: name for name in self.api_models}}

    def menu(self, api: bool = False) -> list[str]:
        """The model menu's values: the labels, in the order of ``choices``; with ``api``
        (the page has a key), the API models after them."""
        return [label for name, label in self.labels().items() if api or name not in self.api_models]

    def resolve(self, name: str) -> str:
        """The model a menu label (or a name on offer) stands for; ``name`` itself when neither."""
        if name in self.choices or name in self.api_models:
            return name
        return next((n for n, label in self.labels().items() if label == name), name)

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def _check_failed(self, name: str) -> None:
        """``ModelLoadError`` if ``name`` failed less than ``retry_after_s`` ago."""
        if name not in self.failed:
            return
        message, when = self.failed[name]
        wait = self.retry_after_s - (self.clock() - when)
        if wait > 0:
            raise ModelLoadError(f"{message} (retry in {math.ceil(wait)} s)")

    def get(self, name: str | None = None):
        """The model called ``name`` (default: the default), loading it if needed.
        Raises ``ModelLoadError`` for names not offered or that cannot load."""
        name = self.resolve(name or self.default)
        if name not in self.choices and name not in self.api_models:
            raise ModelLoadError(f"{name!r} is not one of the models offered here: {', '.join(self.menu())}")
        if name in self.models:  # a loaded model never waits for a lock
            return self.models[name]
        with self._lock(name):
            if name in self.models:
                return self.models[name]
            self._check_failed(name)
            need = 0 if name == self.default or name in self.api_models or HEAD_SEP in name else \
                self.estimate(name)
            self._reserve(need, lambda: f"the model {model_label(name)}")
            try:
                model = self._head(name) if HEAD_SEP in name else self.loader(name)
            except BaseException as err:
                self._release(need)
                if isinstance(err, ModelLoadError):
                    self.failed[name] = (str(err), self.clock())
                raise
            self.failed.pop(name, None)
            self.models[name] = model
            return model

    def _reserve(self, need: int, what: Callable[[], str]) -> None:
        """Count ``need`` bytes against the budget for extra models and engines, or refuse ``what()``."""
        with self._locks_guard:
            if self.variant_used + need > self.variant_budget:
                raise ModelLoadError(
                    f"Not enough memory for {what()}: it needs about {need / MB:,.0f} MB, and "
                    f"{self.variant_used / MB:,.0f} MB of the {self.variant_budget / MB:,.0f} MB for extra models "
                    f"and engines ({VARIANT_ENV}) are taken.")
            self.variant_used += need

    def _release(self, need: int) -> None:
        with self._locks_guard:
            self.variant_used -= need

    def _head(self, name: str):
        """``BASE+head:SIBLING``: the loaded BASE (loaded once, shared) with SIBLING's head."""
        from colbert_viz.engine.heads import with_head

        base, sibling = name.split(HEAD_SEP, 1)
        if base not in self.choices:
            self.choices.append(base)  # the backbone is on offer with its head
        model = with_head(self.get(base), sibling)
        if model.head_check.equals_cut:  # the cut gives its vectors: offer one of the two
            raise ModelLoadError(f"{model.head_check.sentence()}: choose {model_label(base)} at "
                                 f"{model.info.dim} dimensions")
        return model

    def variant(self, name: str | None, dtype: str):
        """The model ``name`` loaded again with another ``dtype`` (the int8
        engine, or exact float32, next to the model as it runs): from the same
        files, once; int8 on the CPU, any other dtype on the model's device;
        ``ModelLoadError`` when it does not fit in ``variant_budget`` bytes."""
        base = self.get(name)
        key = f"{self.resolve(name or self.default)} [{dtype}]"
        if key in self.models:
            return self.models[key]
        with self._lock(key):
            if key not in self.models:
                need = self.model_bytes(base)
                self._reserve(need, lambda: f"the {dtype} engine of {base.info.display_name}")
                try:
                    device = "cpu" if dtype == "int8" else str(base.info.device)
                    self.models[key] = self.variant_loader(base.info.path, dtype, device)
                except BaseException:
                    self._release(need)
                    raise
            return self.models[key]

    def start(self):
        """Load the default model; if it cannot be loaded, fall back to
        ``offline``, make that the default and keep the reason in ``startup_note``."""
        try:
            return self.get(self.default)
        except ModelLoadError as err:
            self.startup_note = f"Could not load {self.default}: {err}"
            self.default = OFFLINE
            if OFFLINE not in self.choices:
                self.choices.insert(0, OFFLINE)
            return self.get(OFFLINE)
