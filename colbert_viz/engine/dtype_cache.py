"""The ``auto`` dtype decision, taken once per machine and kept in a small JSON file.

``dtype="auto"`` times float32 against bfloat16 (``loading.probe_bf16``). On a
busy machine those timings swing, and a decision taken again at every start
changed the numbers of the same input between restarts (float32 in one
process, bfloat16 in the next: a 64-d Kendall tau of 0.786 against 0.714). So
the first probe's decision and its reason are kept in
``<cache dir>/dtype.json``, under a key naming what the probe measured:

- the device: the CPU's model name, torch's CPU capability and the flags that
  decide bfloat16's speed (``avx512_bf16``, ``amx_bf16``, ``amx_tile``), or
  the CUDA device's name and compute capability;
- the torch version, the probed shapes and the margin the rule asks for.

Every later process with the same key (a restart, a notebook kernel, the CLI)
reads the decision and does not probe. The cache directory is
``COLBERT_VIZ_CACHE_DIR``, else ``$XDG_CACHE_HOME/colbert-viz``, else
``~/.cache/colbert-viz``. To probe again: ``loading.reprobe()`` (or the CLI's
``--reprobe-dtype``) forgets the decisions; ``COLBERT_VIZ_DTYPE_PROBE=again``
probes at each start and keeps the new result. A file that cannot be read,
parsed or written never stops a load: the probe runs, and the reason says why
the decision was not read or not kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from colbert_viz.engine.checkpoint import ModelLoadError

CACHE_DIR_ENV = "COLBERT_VIZ_CACHE_DIR"
PROBE_ENV = "COLBERT_VIZ_DTYPE_PROBE"
FILE_NAME = "dtype.json"
FORMAT = 1
CPU_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")  # the flags that decide how fast bfloat16 runs on a CPU


@dataclass(frozen=True)
class Decision:
    """What ``auto`` picked and why.

    ``dtype``: ``float32`` or ``bfloat16``; ``why``: the rule's verdict
    (``auto: bfloat16, 3.8× faster than float32 on this CPU``); ``probe_s``:
    what the probe cost; ``keep``: whether later processes may reuse it (a
    failed probe is not kept)."""

    dtype: str
    why: str
    probe_s: float = 0.0
    keep: bool = True


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``COLBERT_VIZ_CACHE_DIR``, else ``$XDG_CACHE_HOME/colbert-viz``, else ``~/.cache/colbert-viz``.

    >>> cache_dir({"COLBERT_VIZ_CACHE_DIR": "/srv/cv", "XDG_CACHE_HOME": "/x"}).as_posix()
    '/srv/cv'
    >>> cache_dir({"XDG_CACHE_HOME": "/x"}).as_posix()
    '/x/colbert-viz'
    """
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_DIR_ENV, "").strip():
        return Path(environ[CACHE_DIR_ENV].strip()).expanduser()
    base = environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "colbert-viz"


def decisions_path(environ: Mapping[str, str] | None = None) -> Path:
    return cache_dir(environ) / FILE_NAME


def probe_again(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``COLBERT_VIZ_DTYPE_PROBE`` says ``again`` (unset: no; anything else: ``ModelLoadError``).

    >>> probe_again({"COLBERT_VIZ_DTYPE_PROBE": " Again "}), probe_again({})
    (True, False)
    """
    value = (os.environ if environ is None else environ).get(PROBE_ENV, "").strip().lower()
    if value not in ("", "again"):
        raise ModelLoadError(f"environment variable {PROBE_ENV} must be 'again' or unset; got {value!r}")
    return value == "again"


def shown_path(path: Path) -> str:
    """``path`` with the home folder as ``~`` (the reason reaches the page)."""
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):
        return str(path)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            break
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def cpu_description() -> dict:
    """The CPU as far as bfloat16 speed goes: model name, torch's kernel level, the bfloat16 flags."""
    import torch

    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        capability = ""
    return {"cpu": info.get("model name") or platform.processor() or platform.machine(),
            "capability": capability, "flags": [f for f in CPU_FLAGS if f in flags]}


def gpu_description(device) -> dict:
    """The CUDA device's name and compute capability (its index where CUDA cannot say)."""
    import torch

    try:
        major, minor = torch.cuda.get_device_capability(device)
        return {"gpu": torch.cuda.get_device_name(device), "capability": f"{major}.{minor}"}
    except (AssertionError, RuntimeError):  # torch without CUDA: asserts
        return {"gpu": str(device), "capability": ""}


def decision_key(device, hidden: int, intermediate: int, tokens: int, margin: float) -> str:
    """The key a decision is kept under: the device described, torch's version, the probed shapes, the margin."""
    import torch

    described = gpu_description(device) if device.type == "cuda" else cpu_description()
    return json.dumps({**described, "torch": torch.__version__, "shapes": [hidden, intermediate, tokens],
                       "margin": margin}, sort_keys=True, ensure_ascii=False)


def _read(path: Path) -> tuple[dict[str, dict], str]:
    """The decisions in ``path`` (none when it does not exist) and, if it could not be used, why."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return {}, f"{type(err).__name__}: {err}"
    decisions = data.get("decisions") if isinstance(data, dict) and data.get("format") == FORMAT else None
    if not isinstance(decisions, dict):
        return {}, f"not a format-{FORMAT} decisions file"
    return {k: v for k, v in decisions.items() if _valid(v)}, ""


def _valid(entry: object) -> bool:
    return (isinstance(entry, dict) and entry.get("dtype") in ("float32", "bfloat16")
            and isinstance(entry.get("why"), str) and isinstance(entry.get("probed"), str))


def _write(path: Path, decisions: dict[str, dict]) -> str:
    """Write ``decisions`` to ``path`` atomically (a temporary file, then a rename); why not, if it failed."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False) as f:
            tmp = Path(f.name)
            json.dump({"format": FORMAT, "decisions": decisions}, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(0o644)  # a temporary file is private; the decisions are not
        os.replace(tmp, path)
        return ""
    except OSError as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return f"{type(err).__name__}: {err.strerror or err}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` (where the system and folder allow), so that two
    processes starting together probe once, not twice at the same time."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 (closed below)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


def _cached_reason(entry: dict, path: Path) -> str:
    return f"{entry['why']} (probed {entry['probed'][:10]}, cached in {shown_path(path)})"


def decide_once(key: str, probe: Callable[[], Decision], environ: Mapping[str, str] | None = None,
                now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> tuple[str, str]:
    """``(dtype, reason)`` for ``key``: the kept decision when there is one,
    else ``probe()``'s, kept for later processes (unless ``keep`` is false).

    ``COLBERT_VIZ_DTYPE_PROBE=again`` ignores a kept decision and replaces it.
    The reason says where the decision came from: ``(probed 2026-12-01, cached
    in ~/.cache/colbert-viz/dtype.json)``, ``(probe 40 ms, cached in …)``, or
    why it was not read or not kept."""
    path = decisions_path(environ)
    again = probe_again(environ)
    if not again:
        decisions, _ = _read(path)
        if key in decisions:
            return decisions[key]["dtype"], _cached_reason(decisions[key], path)
    with _locked(path):
        decisions, unreadable = _read(path)  # again: another process may have probed while this one waited
        if key in decisions and not again:
            return decisions[key]["dtype"], _cached_reason(decisions[key], path)
        decision = probe()
        if not decision.keep:
            return decision.dtype, decision.why
        cost = f"probe {1000 * decision.probe_s:.0f} ms"
        entry = {"dtype": decision.dtype, "why": decision.why, "probed": now().isoformat(timespec="seconds"),
                 "probe_s": round(decision.probe_s, 4)}
        unwritable = _write(path, {**decisions, key: entry})
    if unwritable:
        return decision.dtype, f"{decision.why} ({cost}; not cached, {shown_path(path)}: {unwritable})"
    replaced = f"; the unreadable {FILE_NAME} ({unreadable}) was replaced" if unreadable else ""
    return decision.dtype, f"{decision.why} ({cost}, cached in {shown_path(path)}{replaced})"


def forget(environ: Mapping[str, str] | None = None) -> Path:
    """Delete the kept decisions, so that the next ``auto`` load probes again; the file's path."""
    path = decisions_path(environ)
    if path.exists():  # no folder made just to say there is nothing to forget
        with _locked(path), contextlib.suppress(FileNotFoundError):
            path.unlink()
    return path
