"""The models the app offers: loaded once, kept in a dict, chosen by name.

The page offers a fixed list (no free-text paths, for a public Space):

- the default: ``COLBERT_VIZ_MODEL`` if set (hub id or local folder), else
  ``jinaai/jina-colbert-v2``;
- ``offline``: the small built-in fallback;
- extra ids from ``COLBERT_VIZ_MODELS`` (comma-separated).

The default is loaded at start-up (``start``); when it cannot be loaded the app
starts on the offline model and says why. Other models load on first use, each
under its own lock: a request on a loaded model never waits for another's load.
A failed load is remembered for ``retry_after_s`` (60 s), then tried again.
``COLBERT_VIZ_DTYPE`` (default ``auto``) is the dtype models load in.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping

from colbert_viz.engine.checkpoint import DEFAULT_MODEL, OFFLINE, ModelLoadError

Loader = Callable[[str], object]


def default_model_name(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("COLBERT_VIZ_MODEL", "").strip() or DEFAULT_MODEL


def model_choices(default: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The default, ``offline``, then ``COLBERT_VIZ_MODELS`` entries, without repeats."""
    environ = os.environ if environ is None else environ
    extra = [m.strip() for m in environ.get("COLBERT_VIZ_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys([default, OFFLINE, *extra]))


RETRY_AFTER_S = 60.0


def _load(name: str):
    from colbert_viz.engine.loading import dtype_from_env, load

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
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.models: dict[str, object] = dict(models or {})
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
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, loader: Loader = _load) -> ModelRegistry:
        default = default_model_name(environ)
        return cls(choices=model_choices(default, environ), default=default, loader=loader)

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
        name = name or self.default
        if name not in self.choices:
            raise ModelLoadError(f"{name!r} is not one of the models offered here: {', '.join(self.choices)}")
        if name in self.models:  # a loaded model never waits for a lock
            return self.models[name]
        with self._lock(name):
            if name in self.models:
                return self.models[name]
            self._check_failed(name)
            try:
                model = self.loader(name)
            except ModelLoadError as err:
                self.failed[name] = (str(err), self.clock())
                raise
            self.failed.pop(name, None)
            self.models[name] = model
            return model

    def variant(self, name: str | None, dtype: str):
        """The model ``name`` loaded again with another ``dtype`` (the int8
        engine, or exact float32, next to the model as it runs): from the same
        files, once; int8 on the CPU, any other dtype on the model's device."""
        base = self.get(name)
        key = f"{name or self.default} [{dtype}]"
        if key in self.models:
            return self.models[key]
        with self._lock(key):
            if key not in self.models:
                from colbert_viz.engine.loading import load

                try:
                    device = "cpu" if dtype == "int8" else base.info.device
                    self.models[key] = load(base.info.path, dtype=dtype, device=device)
                except ValueError as err:
                    raise ModelLoadError(str(err)) from err
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
