"""Memory cost of an upload bomb through ``service.gather_documents``.

Writes four 20 MB files of one-word lines (about 26.7 million documents) and
gathers them in a fresh subprocess, once per limit setting, printing the
growth of the resident set (the peak, VmHWM, minus the RSS before the call)
and the message:

    python scripts/upload_bomb.py

``--raise-byte-cap`` also runs it with the upload caps raised to 100 MB, so
the files are parsed and the document limit is what stops them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from colbert_viz.app.limits import Limits
from colbert_viz.app.service import gather_documents

def status_mib(field):  # VmRSS: now; VmHWM: the peak of this process (ru_maxrss would include the parent's fork)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024

limits = Limits(**json.loads(sys.argv[2]))
files = sys.argv[3:]
before = status_mib("VmRSS:")
try:
    gather_documents("", files, limits)
    message = "accepted"
except ValueError as err:
    message = str(err)
peak = status_mib("VmHWM:")
print(json.dumps({"before_mib": round(before, 1), "peak_mib": round(peak, 1),
                  "growth_mib": round(peak - before, 1), "message": message}))
"""


def write_bomb(folder: Path, n_files: int = 4, mb: int = 20) -> list[str]:
    """``n_files`` files of ``mb`` MB, each line ``w\\n`` (one-word documents)."""
    paths = []
    for k in range(n_files):
        path = folder / f"bomb{k}.txt"
        path.write_bytes(b"w\n" * (mb * 10**6 // 2))
        paths.append(str(path))
    return paths


def measure(paths: list[str], limits: dict) -> dict:
    """Gather ``paths`` in a fresh interpreter; its RSS figures and message."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), json.dumps(limits), *paths],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raise-byte-cap", action="store_true")
    args = parser.parse_args()
    settings = {"default limits": {}}
    if args.raise_byte_cap:
        settings["byte caps raised to 100 MB"] = {"max_upload_mb": 100, "max_file_mb": 100}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_bomb(Path(tmp))
        for name, limits in settings.items():
            print(f"{name}: {json.dumps(measure(paths, limits))}")


if __name__ == "__main__":
    main()
