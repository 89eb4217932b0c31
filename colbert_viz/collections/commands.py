"""The CLI's ``index``, ``search`` and ``first-stage`` subcommands (``python -m colbert_viz index|search|first-stage``).

``--collection`` is a Qdrant Edge folder or a server URL (default ``$QDRANT_URL``);
the API key comes from ``--api-key``, the URL's entry in ``$QDRANT_API_KEYS``
(``URL=KEY,…``) or ``$QDRANT_API_KEY``; a key that would go over plain http to
another machine gets a warning on stderr. Output is JSON on stdout; the progress
bar of ``index`` goes to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys

from colbert_viz.collections.backends import DATATYPES, QUANTIZATIONS, CollectionNotFound, open_collection
from colbert_viz.collections.first_stage import KINDS, MAX_CANDIDATES, MuveraParams
from colbert_viz.collections.layouts import LAYOUTS
from colbert_viz.inputs import InputError

COMMANDS = ("index", "search", "first-stage")


def _muvera(text: str) -> MuveraParams:
    try:
        return MuveraParams.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip() and k.strip() != "none")
    wrong = [k for k in kinds if k not in KINDS]
    if wrong:
        raise argparse.ArgumentTypeError(f"first stages are {', '.join(KINDS)} or none; got {', '.join(wrong)}")
    return kinds


def add_parsers(sub, parents: list[argparse.ArgumentParser], positive_int, formats: str) -> None:
    """Add ``index`` and ``search`` to the CLI's subparsers."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--collection", default=None,
                       help="a Qdrant Edge folder, or a Qdrant server/Cloud URL (default: $QDRANT_URL)")
    store.add_argument("--name", default=None,
                       help="the collection's name on a server (default: the URL's /collections/NAME, or colbert-viz)")
    store.add_argument("--api-key", default=None, help="the server's API key (default: the URL's in $QDRANT_API_KEYS=URL=KEY,…, "
                       "else $QDRANT_API_KEY)")

    muvera = argparse.ArgumentParser(add_help=False)
    muvera.add_argument("--muvera", type=_muvera, default=None, metavar="K_SIM,DIM_PROJ,R_REPS,SEED",
                        help="MUVERA parameters (default when indexing: 4,8,8,42; when searching: the collection's)")

    index = sub.add_parser("index", parents=[*parents, store, muvera],
                           help="encode documents into a Qdrant collection (resumable, idempotent)")
    index.add_argument("--documents", required=True, help=f"{formats} file, or - for stdin")
    index.add_argument("--batch-size", type=positive_int, default=32, help="documents per upsert (default: 32)")
    index.add_argument("--quantization", choices=QUANTIZATIONS, default="none",
                       help="for a new collection: Qdrant's int8 or binary quantization (default: none)")
    index.add_argument("--datatype", choices=DATATYPES, default="float32",
                       help="for a new collection: how the multivectors are stored; float16 halves their bytes "
                            "(default: float32)")
    index.add_argument("--on-disk", action="store_true",
                       help="for a new collection: keep the multivectors memory-mapped on disk, read when "
                            "searched, not held in RAM (for collections larger than memory)")
    index.add_argument("--shards", type=positive_int, default=None,
                       help="for a new collection on a server or cluster: its shard_number (default: the server's)")
    index.add_argument("--replicas", type=positive_int, default=None,
                       help="for a new collection on a cluster: copies of each shard, replication_factor "
                            "(default: the server's)")
    index.add_argument("--hnsw-m", type=int, default=0,
                       help="for a new collection: HNSW graph degree; 0 (default) scans every point, exactly")
    index.add_argument("--first-stages", type=_kinds, default=KINDS,
                       help="for a new collection: first-stage vectors, comma-separated (default: pooled,muvera; "
                       "none: only the multivectors)")

    search = sub.add_parser("search", parents=[*parents, store, muvera],
                            help="top k of a Qdrant collection, each hit explained from its stored vectors")
    search.add_argument("--query", required=True)
    search.add_argument("--top-k", type=positive_int, default=10)
    search.add_argument("--rescore", choices=("on", "off"), default=None,
                        help="quantized collection: rescore candidates with the original vectors (default: Qdrant's)")
    search.add_argument("--oversampling", type=float, default=None,
                        help="quantized collection: candidates per hit to rescore (default: Qdrant's, 1)")
    search.add_argument("--explain", action="store_true", help="add each hit's token-level explanation")
    search.add_argument("--layout", choices=LAYOUTS, default=None,
                        help="how another pipeline laid out the stored vectors (default: from the payload, or guessed)")
    search.add_argument("--text-field", default="text", help="payload key holding the text (default: text)")
    search.add_argument("--first-stage", choices=("none", *KINDS), default="none",
                        help="two stages: prefetch candidates by this first-stage vector, then MaxSim (default: "
                        "none, the exact MaxSim over every point)")
    search.add_argument("--candidates", type=int, default=None,
                        help=f"first stage: candidates to prefetch, top k to {MAX_CANDIDATES:,} (default: 100)")
    search.add_argument("--misses", action="store_true",
                        help="with --first-stage: also list the exact top k the first stage missed, and recall@k")
    search.add_argument("--why", default=None, metavar="ID_OR_TEXT",
                        help="with --first-stage: where this document ranks exactly and in the first stage, and why")

    backfill = sub.add_parser("first-stage", parents=[*parents, store, muvera],
                              help="copy a collection into a new one with first-stage vectors (no encoding; "
                              "resumable)")
    backfill.add_argument("--into", required=True, help="the new collection: a Qdrant Edge folder or a server URL")
    backfill.add_argument("--into-name", default=None, help="the new collection's name on a server")
    backfill.add_argument("--first-stages", type=_kinds, default=KINDS,
                          help="comma-separated (default: pooled,muvera)")
    backfill.add_argument("--batch-size", type=positive_int, default=256, help="points per upsert (default: 256)")


def run_command(args: argparse.Namespace, read_texts) -> dict:
    """Run ``index`` or ``search``; the collection is checked before the model loads."""
    from colbert_viz.collections.indexing import index
    from colbert_viz.collections.searching import search
    from colbert_viz.engine.loading import load

    target = args.collection or os.environ.get("QDRANT_URL")
    if not target:
        raise InputError("no collection: give --collection (a folder or a URL) or set QDRANT_URL")
    if args.command == "first-stage":
        return _backfill(args, target)
    if args.command == "search" and (args.misses or args.why) and args.first_stage == "none":
        raise InputError("--misses and --why compare a first stage with the exact search: add --first-stage")
    documents = read_texts(args.documents) if args.command == "index" else None
    if documents is not None and not documents:
        raise InputError("no documents to index")
    with open_collection(target, args.name, args.api_key) as backend:
        if getattr(backend, "warning", ""):
            print(f"colbert-viz: warning: {backend.warning}", file=sys.stderr)
        if args.command == "index" and (args.shards or args.replicas):  # before the model loads
            if not hasattr(backend, "shards"):
                raise InputError("--shards and --replicas go with a Qdrant server URL; a Qdrant Edge folder "
                                 "is one shard on one machine")
            backend.shards, backend.replicas = args.shards, args.replicas
        if args.command == "search" and backend.specs() is None:
            raise CollectionNotFound(f"{backend.description} does not exist")
        model = load(args.model, dtype=args.dtype, device=args.device, skiplist=args.skiplist)
        out: dict = {"model": model.info.name, "collection": backend.description}
        if args.command == "index":
            report = index(model, backend, documents, batch_size=args.batch_size, doc_maxlen=args.doc_maxlen,
                           quantization=args.quantization, hnsw_m=args.hnsw_m, first_stages=args.first_stages,
                           datatype=args.datatype, on_disk=args.on_disk,
                           muvera=args.muvera, progress=_progress_bar())
            return {**out, **report.to_dict()}
        rescore = None if args.rescore is None else args.rescore == "on"
        stage = {"first_stage": args.first_stage, "candidates": args.candidates, "muvera": args.muvera}
        result = search(model, backend, args.query, args.top_k, args.dimensions, rescore, args.layout,
                        args.text_field, args.oversampling, **stage)
        out = {**out, **result.to_dict(explain=args.explain)}
        if args.misses or args.why:
            from colbert_viz.collections.misses import misses, why

            shared = dict(top_k=args.top_k, dim=args.dimensions, text_field=args.text_field, **stage)
            if args.misses:
                out["misses"] = misses(model, backend, args.query, **shared).to_dict()
            if args.why:
                out["why"] = why(model, backend, args.query, args.why, **shared).to_dict()
        return out


def _backfill(args: argparse.Namespace, target: str) -> dict:
    """``first-stage``: copy ``target`` into ``--into`` with first-stage vectors."""
    from colbert_viz.collections.backfill import add_first_stage

    if not args.first_stages:
        raise InputError("--first-stages names no first stage (pooled, muvera)")
    with open_collection(target, args.name, args.api_key) as source, \
            open_collection(args.into, args.into_name, args.api_key) as into:
        report = add_first_stage(source, into, args.first_stages, args.muvera, args.batch_size, _progress_bar())
        return {"collection": source.description, "into": into.description, **report.to_dict()}


def _progress_bar():
    """A tqdm bar on stderr (only when stderr is a terminal), fed ``(done, total)``."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="doc", desc="indexing", disable=None, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update
