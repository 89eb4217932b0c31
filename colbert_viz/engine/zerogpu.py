"""Encoding on a ZeroGPU Space: Hugging Face lends a GPU per call of a ``spaces.GPU`` function.

On ZeroGPU (``SPACES_ZERO_GPU`` true, which is how the ``spaces`` package tells) the
network runs inside ``gpu_function()``, ``encode`` wrapped by ``spaces.GPU`` with a
duration that grows with the tokens encoded. Its arguments and result cross to the
GPU worker process by pickling, so only numpy arrays cross: token ids and key masks
in, float32 unit vectors out. The network is found in the worker by ``id`` (the
worker is forked from the server, so it holds the models loaded before it started)
and moved to the GPU there; nothing is assumed warm. The server itself stays on the
CPU (``loading.pick_device``): where the GPU call cannot be made, or the worker does
not hold the network, ``run`` answers ``None`` and the caller encodes on the CPU.

Anywhere else ``spaces`` is never imported and ``run`` is ``None`` at once.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from colbert_viz.engine.networks import forward

ENV = "SPACES_ZERO_GPU"
BASE_SECONDS = 20          # the worker's start, and the weights moved to the GPU (1.1 GB for jina-colbert-v2)
TOKENS_PER_SECOND = 1000   # a deliberately low rate: an estimate, not measured on ZeroGPU
MAX_SECONDS = 120

log = logging.getLogger(__name__)
_networks: dict[int, object] = {}
_decorated = None


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs on a ZeroGPU Space (``spaces.config``'s test).

    >>> enabled({"SPACES_ZERO_GPU": "true"}), enabled({})
    (True, False)
    """
    value = (os.environ if environ is None else environ).get(ENV)
    return value is not None and value.lower() in ("1", "t", "true")


def duration(key: int, ids: Sequence[np.ndarray], key_masks: Sequence[np.ndarray | None]) -> int:
    """Seconds to ask ZeroGPU for (``spaces.GPU``'s ``duration``, called with ``encode``'s
    arguments): a base for the worker's start plus the tokens at a low rate, capped.

    >>> duration(0, [np.zeros(32)], [None]), duration(0, [np.zeros(8192)] * 8, [None] * 8)
    (21, 86)
    """
    tokens = sum(len(i) for i in ids)
    return min(MAX_SECONDS, BASE_SECONDS + math.ceil(tokens / TOKENS_PER_SECOND))


def encode(key: int, ids: list[np.ndarray], key_masks: list[np.ndarray | None]) -> list[np.ndarray] | None:
    """Inside the GPU worker: the network registered as ``key`` moved to the GPU (the CPU
    where there is none), run on (L_i,) int64 ids and (L_i,) bool key masks; (L_i, dim)
    float32 unit vectors out. ``None`` when this process does not hold the network."""
    network = _networks.get(key)
    if network is None:
        return None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return forward(network.to(device), ids, key_masks, device)


def gpu_function():
    """``encode`` wrapped by ``spaces.GPU`` (``spaces`` imported here, once) on ZeroGPU;
    ``None`` elsewhere. ``app.py`` calls it before launching: ZeroGPU refuses to start a
    Space with no decorated function."""
    global _decorated
    if not enabled():
        return None
    if _decorated is None:
        import spaces

        _decorated = spaces.GPU(duration=duration)(encode)
    return _decorated


def run(network, ids: list[np.ndarray], key_masks: list[np.ndarray | None]) -> list[np.ndarray] | None:
    """``network``'s unit vectors computed on a ZeroGPU GPU, or ``None``: off ZeroGPU, or
    when the GPU call fails (a quota, no worker; logged) or the worker lacks the network."""
    gpu = gpu_function()
    if gpu is None:
        return None
    _networks.setdefault(id(network), network)
    try:
        return gpu(id(network), ids, key_masks)
    except Exception as err:  # the encode still happens, on the CPU
        log.warning("ZeroGPU call failed, encoding on the CPU: %s: %s", type(err).__name__, err)
        return None
