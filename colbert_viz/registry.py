"""The models the app offers: loaded once, kept in a dict, chosen by name.

The page offers a fixed list (no free-text paths, for a public Space):

- the default: ``COLBERT_VIZ_MODEL`` if set (hub id or local folder), else
  ``jinaai/jina-colbert-v2``;
- ``offline``: the small built-in fallback;
- extra ids from ``COLBERT_VIZ_MODELS`` (comma-separated).

The default is loaded at start-up (``start``); when it cannot be loaded the app
starts on the offline model and says why. Other models load on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping

from colbert_viz.checkpoint import DEFAULT_MODEL, OFFLINE, ModelLoadError

Loader = Callable[[str], object]


def default_model_name(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("COLBERT_VIZ_MODEL", "").strip() or DEFAULT_MODEL


def model_choices(default: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The default, ``offline``, then ``COLBERT_VIZ_MODELS`` entries, without repeats."""
    environ = os.environ if environ is None else environ
    extra = [m.strip() for m in environ.get("COLBERT_VIZ_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys([default, OFFLINE, *extra]))


def _load(name: str):
    from colbert_viz.loading import load

    return load(name)


class ModelRegistry:
    """Loaded models by name, loading each at most once (thread-safe).

    ``models`` may hold models loaded already; ``choices`` lists every name the
    page offers (default: the names in ``models``). A name whose load failed is
    remembered with its error, so requests do not retry it over and over.
    """

    def __init__(self, models: Mapping[str, object] | None = None, choices: list[str] | None = None,
                 default: str | None = None, loader: Loader = _load) -> None:
        self.models: dict[str, object] = dict(models or {})
        self.choices = list(dict.fromkeys(choices or list(self.models)))
        if not self.choices:
            raise ValueError("a model registry needs at least one model name")
        self.default = default or self.choices[0]
        if self.default not in self.choices:
            self.choices.insert(0, self.default)
        self.loader = loader
        self.failed: dict[str, str] = {}
        self.startup_note = ""
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, loader: Loader = _load) -> ModelRegistry:
        default = default_model_name(environ)
        return cls(choices=model_choices(default, environ), default=default, loader=loader)

    def get(self, name: str | None = None):
        """The model called ``name`` (default: the default), loading it if needed.
        Raises ``ModelLoadError`` for names not offered or that cannot load."""
        name = name or self.default
        if name not in self.choices:
            raise ModelLoadError(f"{name!r} is not one of the models offered here: {', '.join(self.choices)}")
        with self._lock:
            if name in self.models:
                return self.models[name]
            if name in self.failed:
                raise ModelLoadError(self.failed[name])
            try:
                model = self.loader(name)
            except ModelLoadError as err:
                self.failed[name] = str(err)
                raise
            self.models[name] = model
            return model

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
