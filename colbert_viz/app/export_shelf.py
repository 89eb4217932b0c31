"""Where the page's exports are kept, and for how long: bounded per session and in all.

Each export (``exports.export_files``) is a folder of the process's private
export folder (``exports.export_root``). The shelf remembers which session
wrote it and its bytes on disk; it keeps at most ``per_session`` exports of one
session (``COLBERT_VIZ_EXPORTS_PER_SESSION``, default 2) and ``max_bytes`` of
all (``COLBERT_VIZ_EXPORT_MB``, default 256), removing the oldest first (the
newest is always kept). Gradio serves a copy of each file from its cache (as a
download, never inline); ``cache_copy`` names that copy, so that it is removed
with the export instead of waiting for Gradio's hourly clean-up (unless a kept
export has the same content, hence the same copy).
"""

from __future__ import annotations

import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path

from colbert_viz.app.limits import MB
from colbert_viz.checks import positive_int, positive_int_env


def folder_bytes(folder: Path) -> int:
    """Bytes of the files directly inside ``folder``."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


class ExportShelf:
    """The exports on disk by session, oldest first (thread-safe)."""

    def __init__(self, per_session: int = 2, max_bytes: int = 256 * MB,
                 cache_copy: Callable[[Path], Path] | None = None) -> None:
        self.per_session = positive_int(per_session, "per_session")
        self.max_bytes = positive_int(max_bytes, "max_bytes")
        self.cache_copy = cache_copy
        self._folders: OrderedDict[Path, tuple[str, int]] = OrderedDict()  # folder → (session, bytes)
        self._copies: dict[Path, list[Path]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 cache_copy: Callable[[Path], Path] | None = None) -> ExportShelf:
        return cls(positive_int_env("COLBERT_VIZ_EXPORTS_PER_SESSION", 2, environ),
                   positive_int_env("COLBERT_VIZ_EXPORT_MB", 256, environ) * MB, cache_copy)

    def add(self, session: str, paths: list[Path]) -> list[Path]:
        """Shelve the export whose files are ``paths`` (one folder) for ``session``;
        remove older exports over the bounds; ``paths``."""
        folder = paths[0].parent
        size = folder_bytes(folder)
        copies = [self.cache_copy(p) for p in paths] if self.cache_copy else []
        with self._lock:
            self._folders[folder] = (session, size)
            self._copies[folder] = copies
            mine = [f for f, (s, _) in self._folders.items() if s == session]
            doomed = mine[:-self.per_session]
            total = sum(b for f, (_, b) in self._folders.items() if f not in doomed)
            for f, (_, b) in self._folders.items():
                if total <= self.max_bytes or f == folder:
                    break
                if f not in doomed:
                    doomed.append(f)
                    total -= b
            for f in doomed:
                del self._folders[f]
            removed = [[f, *self._copies.pop(f)] for f in doomed]
            shared = {c for copies in self._copies.values() for c in copies}  # the same content, still shown
            removed = [[f, *(c for c in copies if c not in shared)] for f, *copies in removed]
        for f, *copies in removed:
            shutil.rmtree(f, ignore_errors=True)
            for copy in copies:
                copy.unlink(missing_ok=True)
                with suppress(OSError):
                    copy.parent.rmdir()  # Gradio's folder of one copy, named by its hash
        return paths
