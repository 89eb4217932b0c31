"""What an anonymous visitor can make a public Space do: an attack on the page at 127.0.0.1.

    python scripts/attack_space.py                      # every phase, figures as a markdown table
    python scripts/attack_space.py --sessions 3 --calls 12 --tokens 8192 --memory-mb 64

Serves the page in a child process (a tiny random checkpoint in jina-colbert-v2's
layout, the default limits, ``COLBERT_VIZ_RUN_MEMORY_MB=--memory-mb``, its own
temporary and Gradio cache folders) and, as many Gradio sessions at once
(``tests/page_client.py``: the page's own HTTP calls, no browser):

1. one Run: ``--calls`` callers ask one session's Run for its storage settings
   at once, and as many replay its key from fresh sessions;
   flood: each of ``--sessions`` sessions presses Run on ``--tokens`` document
   tokens (8 documents), then ``--calls`` callers per session call every server
   function at once (``storage_summary`` and ``document_views`` for every
   document under the exact vectors and three storage methods), while as many
   callers from fresh sessions replay the same keys;
2. memory: as many sessions each Run about 32,000 tokens and ask for every
   document's views (the budget must hold: least recently used Runs dropped);
3. exports: every session presses Export ``--exports`` times;
4. loads: a Run on the loaded model, alone and while two other models load
   (each load sleeps ``--load-seconds``, standing for a download, then loads a
   tiny checkpoint).

Reports the server's CPU seconds (utime + stime from /proc), its peak RSS against
the budget, the bytes the exports hold on disk (ours and Gradio's cache), what
replayed keys got, and the wait of a Run on the loaded model. Only ever sends
traffic to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

METHODS = ("float32", "int8", "pool-2", "residual-2bit")
CLK = os.sysconf("SC_CLK_TCK")


# ---- the server (child process) -------------------------------------------------------

def serve(folder: Path, port: int, load_seconds: float) -> None:
    import colbert_viz
    from colbert_viz.app.background import Executor
    from colbert_viz.app.limits import Limits
    from colbert_viz.app.registry import ModelRegistry
    from colbert_viz.app.run_store import RunStore
    from colbert_viz.app.ui import build_app, launch_options
    from colbert_viz.engine.synthetic import write_checkpoint

    checkpoints = {name: write_checkpoint(folder / name, seed=seed)
                   for seed, name in enumerate(("tiny", "slow-a", "slow-b"))}

    def loader(name: str):
        time.sleep(load_seconds)
        return colbert_viz.load(str(checkpoints[name]), dtype="float32", device="cpu")

    tiny = colbert_viz.load(str(checkpoints["tiny"]), dtype="float32", device="cpu")
    registry = ModelRegistry({"tiny": tiny}, choices=["tiny", "slow-a", "slow-b"], loader=loader)
    limits = Limits()
    store = RunStore.from_env(executor=Executor.from_env())
    demo = build_app(registry, limits=limits, store=store)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **launch_options(limits))
    print("READY", flush=True)
    peak = 0
    while True:  # the store's charged bytes, for the report: now and the most so far
        peak = max(peak, store.total_bytes)
        (folder / "store.json").write_text(json.dumps({"bytes": store.total_bytes, "peak": peak, "runs": len(store)}))
        time.sleep(0.05)


# ---- measuring the child ----------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def documents(tokens: int, n: int = 8, seed: int = 0) -> str:
    """``n`` documents of about ``tokens`` tokens in all (``river123 bank45``: about 4.8 tokens)."""
    words = max(1, tokens * 5 // (24 * n))
    return "\n".join(" ".join(f"river{(seed * 31 + d * 7919 + i) % 5003} bank{i % 97}" for i in range(words))
                     for d in range(n))


def in_threads(jobs) -> list:
    results: list = [None] * len(jobs)

    def run(i, job):
        try:
            results[i] = job()
        except Exception as err:  # reported, not raised
            results[i] = {"error": f"{type(err).__name__}: {err}"}

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def outcome(answer) -> str:
    if isinstance(answer, dict) and "error" in answer:
        text = answer["error"]
        return ("not found" if "dropped" in text else "busy" if "busy" in text or "too many" in text
                else text[:60])
    return "answered"


# ---- the phases --------------------------------------------------------------------------

def one_run(client, pid: int, calls: int, tokens: int) -> dict:
    """``calls`` callers asking one Run's storage settings at once, as many replaying its key."""
    from page_client import new_session

    session = new_session()
    key = client.run(session, "Which river bank is the longest?", documents(tokens, seed=99), "tiny", 8192)["key"]
    jobs = [lambda: client.server("storage_summary", [key], session)] * calls
    jobs += [lambda: client.server("storage_summary", [key], new_session())] * calls
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    answers = in_threads(jobs)
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "own": Counter(outcome(a) for a in answers[:calls]),
            "replayed": Counter(outcome(a) for a in answers[calls:])}


def flood(client, pid: int, sessions: int, calls: int, tokens: int) -> dict:
    from page_client import new_session

    owned = []
    for s in range(sessions):
        session = new_session()
        run = client.run(session, "Which river bank is the longest?", documents(tokens, seed=s), "tiny", 8192)
        if not run["key"]:
            raise SystemExit(f"Run refused: {run['status']}")
        owned.append((session, run["key"], len(run["payload"]["documents"])))
    jobs, kinds = [], []
    for session, key, n_docs in owned:
        mine = [lambda s=session, k=key: client.server("storage_summary", [k], s)]
        mine += [lambda s=session, k=key, i=i, m=m: client.server("document_views", [k, i, m], s)
                 for i in range(n_docs) for m in METHODS]
        for c in range(calls):
            jobs.append(mine[c % len(mine)])
            kinds.append("own")
            jobs.append(lambda k=key, i=c % n_docs: client.server("document_views", [k, i, "float32"], new_session()))
            kinds.append("replayed")
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    with PeakRss(pid) as rss:
        answers = in_threads(jobs)
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    tally = {kind: Counter(outcome(a) for a, k in zip(answers, kinds) if k == kind) for kind in ("own", "replayed")}
    # what remains: every session asks once more for everything, one call at a time
    cpu1 = cpu_seconds(pid)
    rest = [outcome(job()) for job in jobs[::2]]
    return {"calls": len(jobs), "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss.peak, "tally": tally,
            "again_cpu_s": cpu_seconds(pid) - cpu1, "again": Counter(rest)}


def store_mb(folder: Path) -> dict:
    """The server's store: MiB charged now, the most so far, Runs kept."""
    for _ in range(20):
        try:
            data = json.loads((folder / "store.json").read_text())
            return {"now": data["bytes"] / 2**20, "peak": data["peak"] / 2**20, "runs": data["runs"]}
        except (OSError, ValueError):
            time.sleep(0.05)
    return {"now": float("nan"), "peak": float("nan"), "runs": -1}


def memory(client, pid: int, sessions: int, folder: Path) -> dict:
    from page_client import new_session

    before = rss_mb(pid)
    outcomes: Counter = Counter()
    with PeakRss(pid) as rss:
        for s in range(sessions):
            session = new_session()
            run = client.run(session, "Which river bank is the longest?", documents(32_000, seed=10 + s), "tiny", 8192)
            if not run["key"]:
                outcomes[f"Run refused: {run['status'][:60]}"] += 1
                continue
            n = len(run["payload"]["documents"])
            answers = in_threads([lambda i=i, k=run["key"], se=session: client.server("document_views",
                                                                                       [k, i, "float32"], se)
                                  for i in range(n)] * 2)
            outcomes.update(outcome(a) for a in answers)
    return {"rss_before_mb": before, "peak_rss_mb": rss.peak, "rss_after_mb": rss_mb(pid), "outcomes": outcomes,
            "store": store_mb(folder)}


def exports(client, folder: Path, sessions: int, count: int) -> dict:
    from page_client import new_session

    owned = []
    for s in range(sessions):
        session = new_session()
        run = client.run(session, "What is the population of Berlin?", documents(2048, seed=20 + s), "tiny", 512)
        owned.append((session, run["key"]))
    jobs = [lambda s=s, k=k, i=i: client.export(s, k, {"dim": (128, 96, 64)[i % 3], "doc": i % 8, "merge": i % 2})
            for i in range(count) for s, k in owned]
    t0 = time.perf_counter()
    answers = in_threads(jobs)
    ours = sum(disk_bytes(p) for p in (folder / "tmp").glob("colbert-viz-*"))
    cache = disk_bytes(folder / "gradio")
    return {"exports": len(jobs), "wall_s": time.perf_counter() - t0, "ours_mb": ours / 2**20,
            "cache_mb": cache / 2**20, "written": sum(isinstance(a, list) for a in answers),
            "refused": Counter(str(a)[:60] for a in answers if not isinstance(a, list))}


def loads(client, repeats: int = 3) -> dict:
    from page_client import new_session

    seeds = iter(range(30, 60))

    def timed(model: str) -> float:
        text = documents(1024, seed=next(seeds))  # new text each time: nothing from the vector cache
        t0 = time.perf_counter()
        run = client.run(new_session(), "Which river bank is the longest?", text, model, 512)
        assert run["key"], run["status"]
        return time.perf_counter() - t0

    alone = statistics.median(timed("tiny") for _ in range(repeats))
    loading = [threading.Thread(target=timed, args=(m,)) for m in ("slow-a", "slow-b")]
    for t in loading:
        t.start()
    time.sleep(1.0)
    during = []
    for _ in range(repeats):
        if all(t.is_alive() for t in loading):
            during.append(timed("tiny"))
    for t in loading:
        t.join()
    return {"alone_s": alone, "during_s": statistics.median(during) if during else float("nan"),
            "during_n": len(during)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--calls", type=int, default=12, help="callers per session in the flood (and as many replays)")
    parser.add_argument("--tokens", type=int, default=7500,
                        help="document tokens of each flood Run (the residual settings stop at 8,192)")
    parser.add_argument("--exports", type=int, default=10, help="exports per session")
    parser.add_argument("--memory-mb", type=int, default=64, help="COLBERT_VIZ_RUN_MEMORY_MB of the server")
    parser.add_argument("--load-seconds", type=float, default=8.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.folder, args.serve, args.load_seconds)
        return

    from page_client import PageClient
    from serving import free_port

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tmp").mkdir()
        port = free_port()
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(folder / "gradio"),
               "TMPDIR": str(folder / "tmp"), "COLBERT_VIZ_RUN_MEMORY_MB": str(args.memory_mb)}
        log = open(folder / "server.log", "w")  # noqa: SIM115 (open while the child runs)
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--folder", str(folder),
                                  "--load-seconds", str(args.load_seconds)], env=env, stdout=subprocess.PIPE,
                                 stderr=log, text=True)
        try:
            if child.stdout.readline().strip() != "READY":
                raise SystemExit("the server did not start")
            client = PageClient(f"http://127.0.0.1:{port}/")
            idle_rss = rss_mb(child.pid)
            one = one_run(client, child.pid, args.calls, args.tokens)
            f = flood(client, child.pid, args.sessions, args.calls, args.tokens)
            m = memory(client, child.pid, args.sessions, folder)
            e = exports(client, folder, args.sessions, args.exports)
            lo = loads(client)
        finally:
            child.terminate()
            child.wait(30)
            log.close()

    print(f"\nAttack on the page at 127.0.0.1 (tiny random checkpoint; budget COLBERT_VIZ_RUN_MEMORY_MB="
          f"{args.memory_mb}; server idle RSS {idle_rss:.0f} MiB).\n")
    print("| phase | figure |")
    print("|---|---|")
    print(f"| one Run ({args.tokens:,} tokens): {args.calls} storage_summary calls at once, and {args.calls} with "
          f"its key from fresh sessions | {one['cpu_s']:.1f} s CPU in {one['wall_s']:.1f} s; own "
          f"{dict(one['own'])}; replayed {dict(one['replayed'])} |")
    print(f"| flood: {args.sessions} sessions × {args.tokens:,}-token Runs, {f['calls']} server-function calls at "
          f"once (half replayed keys from fresh sessions) | {f['cpu_s']:.1f} s CPU in {f['wall_s']:.1f} s; "
          f"peak RSS {f['peak_rss_mb']:.0f} MiB |")
    print(f"| flood: own calls | {dict(f['tally']['own'])} |")
    print(f"| flood: replayed keys | {dict(f['tally']['replayed'])} |")
    print(f"| flood: every own call again, one at a time | {f['again_cpu_s']:.1f} s CPU; {dict(f['again'])} |")
    print(f"| memory: {args.sessions} sessions × ~32,000-token Runs, every document's views twice | RSS "
          f"{m['rss_before_mb']:.0f} → peak {m['peak_rss_mb']:.0f} → {m['rss_after_mb']:.0f} MiB "
          f"(budget {args.memory_mb} MiB); {dict(m['outcomes'])} |")
    print(f"| memory: the store's charged bytes | at most {m['store']['peak']:.1f} MiB since start "
          f"(budget {args.memory_mb} MiB); {m['store']['now']:.1f} MiB in {m['store']['runs']} Runs at the end |")
    print(f"| exports: {e['exports']} at once ({args.sessions} sessions × {args.exports}) | {e['written']} written "
          f"in {e['wall_s']:.1f} s; on disk: {e['ours_mb']:.1f} MiB ours + {e['cache_mb']:.1f} MiB Gradio's cache"
          f"{'; refused: ' + str(dict(e['refused'])) if e['refused'] else ''} |")
    print(f"| loads: a Run on the loaded model (1,024 tokens) | alone {lo['alone_s']:.2f} s; while two other models "
          f"load ({args.load_seconds:.0f} s each) {lo['during_s']:.2f} s (median of {lo['during_n']}) |")


if __name__ == "__main__":
    main()
