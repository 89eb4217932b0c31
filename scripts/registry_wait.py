"""How long a request on a loaded model waits while another model loads for 3 s
(median of 5 tries): ``python scripts/registry_wait.py``."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from colbert_viz.app.registry import ModelRegistry


def wait_once(load_s: float = 3.0) -> float:
    """Seconds ``get`` on a loaded model takes while another model's load runs."""
    started = threading.Event()

    def slow_loader(name: str) -> str:
        started.set()
        time.sleep(load_s)
        return name

    registry = ModelRegistry({"loaded": "model"}, choices=["loaded", "other"], loader=slow_loader)
    loading = threading.Thread(target=registry.get, args=("other",))
    loading.start()
    started.wait()
    t0 = time.perf_counter()
    registry.get("loaded")
    wait = time.perf_counter() - t0
    loading.join()
    return wait


if __name__ == "__main__":
    waits = [wait_once() for _ in range(5)]
    print(f"median wait {statistics.median(waits) * 1e6:.1f} µs (max {max(waits) * 1e6:.1f} µs) over {len(waits)}")
