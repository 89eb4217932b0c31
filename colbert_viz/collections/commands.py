"""The CLI's ``index`` and ``search`` subcommands (``python -m colbert_viz index|search``).

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

from colbert_viz.collections.backends import QUANTIZATIONS, CollectionNotFound, open_collection
from colbert_viz.collections.layouts import LAYOUTS
from colbert_viz.inputs import InputError

COMMANDS = ("index", "search")


def add_parsers(sub, parents: list[argparse.ArgumentParser], positive_int, formats: str) -> None:
    """Add ``index`` and ``search`` to the CLI's subparsers."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--collection", default=None,
                       help="a Qdrant Edge folder, or a Qdrant server/Cloud URL (default: $QDRANT_URL)")
    store.add_argument("--name", default=None,
                       help="the collection's name on a server (default: the URL's /collections/NAME, or colbert-viz)")
    store.add_argument("--api-key", default=None, help="the server's API key (default: the URL's in $QDRANT_API_KEYS=URL=KEY,…, "
                       "else $QDRANT_API_KEY)")

    index = sub.add_parser("index", parents=[*parents, store],
                           help="encode documents into a Qdrant collection (resumable, idempotent)")
    index.add_argument("--documents", required=True, help=f"{formats} file, or - for stdin")
    index.add_argument("--batch-size", type=positive_int, default=32, help="documents per upsert (default: 32)")
    index.add_argument("--quantization", choices=QUANTIZATIONS, default="none",
                       help="for a new collection: Qdrant's int8 or binary quantization (default: none)")
    index.add_argument("--hnsw-m", type=int, default=0,
                       help="for a new collection: HNSW graph degree; 0 (default) scans every point, exactly")

    search = sub.add_parser("search", parents=[*parents, store],
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


def run_command(args: argparse.Namespace, read_texts) -> dict:
    """Run ``index`` or ``search``; the collection is checked before the model loads."""
    from colbert_viz.collections.indexing import index
    from colbert_viz.collections.searching import search
    from colbert_viz.engine.loading import load

    target = args.collection or os.environ.get("QDRANT_URL")
    if not target:
        raise InputError("no collection: give --collection (a folder or a URL) or set QDRANT_URL")
    documents = read_texts(args.documents) if args.command == "index" else None
    if documents is not None and not documents:
        raise InputError("no documents to index")
    with open_collection(target, args.name, args.api_key) as backend:
        if getattr(backend, "warning", ""):
            print(f"colbert-viz: warning: {backend.warning}", file=sys.stderr)
        if args.command == "search" and backend.specs() is None:
            raise CollectionNotFound(f"{backend.description} does not exist")
        model = load(args.model, dtype=args.dtype, device=args.device, skiplist=args.skiplist)
        out: dict = {"model": model.info.name, "collection": backend.description}
        if args.command == "index":
            report = index(model, backend, documents, batch_size=args.batch_size, doc_maxlen=args.doc_maxlen,
                           quantization=args.quantization, hnsw_m=args.hnsw_m, progress=_progress_bar())
            return {**out, **report.to_dict()}
        rescore = None if args.rescore is None else args.rescore == "on"
        result = search(model, backend, args.query, args.top_k, args.dimensions, rescore, args.layout,
                        args.text_field, args.oversampling)
        return {**out, **result.to_dict(explain=args.explain)}


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
