"""Command line: ``python -m colbert_viz encode|rerank|explain|compress|compare|compare-api|recipe|index|search|make-checkpoint``,
JSON on stdout.

The output mirrors the hosted API's responses (``/v1/multi-vector`` and
``/v1/rerank``) with token strings added. Bad input exits with status 2 and one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from colbert_viz.checks import positive_int
from colbert_viz.inputs import FORMATS, InputError, parse_documents, read_documents

DIMENSION_CHOICES = (128, 96, 64)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    try:
        return positive_int(number, "value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer") from None


def _top_n(value: str) -> int | None:
    """``--top-n``: a positive integer, or 0 for all documents (``None``)."""
    if value.strip() == "0":
        return None
    try:
        return _positive_int(value)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{err} (or 0 for all)") from None


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (status 2), like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"colbert-viz: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m colbert_viz", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", default="jinaai/jina-colbert-v2",
                        help="hub id, checkpoint folder, 'offline', or 'jina-api:jina-colbert-v2' (Jina's API with "
                             "JINA_API_KEY) (default: %(default)s)")
    common.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "int8"), default="auto",
                        help="auto: bfloat16 only where measured faster; int8: approximate, CPU only")
    common.add_argument("--reprobe-dtype", action="store_true",
                        help="forget the kept auto dtype decision (see dtype.json in the cache folder) and measure again")
    common.add_argument("--verbose", action="store_true", help="say on stderr which dtype runs and why")
    common.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    common.add_argument("--skiplist", choices=("reader", "stanford", "none"), default=None,
                        help="punctuation skiplist convention (default: reader, or none if the model says so)")
    common.add_argument("--dimensions", type=_positive_int, default=None,
                        help="output size: 128 (native), 96 or 64 for jina-colbert-v2")
    common.add_argument("--doc-maxlen", type=_positive_int, default=None,
                        help="maximum document tokens, markers included (default: the model's, 8192)")
    sub = parser.add_subparsers(dest="command", required=True)

    encode = sub.add_parser("encode", parents=[common], help="token vectors, like /v1/multi-vector")
    encode.add_argument("--input-type", choices=("query", "document"), required=True)
    encode.add_argument("file", nargs="?", default="-",
                        help=f"texts: {', '.join(FORMATS)} file, or - for stdin (default)")

    rerank = sub.add_parser("rerank", parents=[common], help="rank documents, like /v1/rerank")
    rerank.add_argument("--query", required=True)
    rerank.add_argument("--documents", required=True, help=f"{', '.join(FORMATS)} file, or - for stdin")
    rerank.add_argument("--top-n", type=_top_n, default=None, help="documents to return (default, or 0: all)")

    explain = sub.add_parser("explain", parents=[common], help="token-level explanation of one pair")
    explain.add_argument("--query", required=True)
    explain.add_argument("--document", required=True, help="the document text")
    explain.add_argument("--merge-words", action="store_true", help="merge sub-word tokens into words")

    compress = sub.add_parser("compress", parents=[common],
                              help="what each storage setting (float16, int8, binary, residual, pooling) does to the ranking")
    compress.add_argument("--query", required=True)
    compress.add_argument("--documents", required=True, help=f"{', '.join(FORMATS)} file, or - for stdin")

    both = sub.add_parser("compare", parents=[common],
                          help="two encoders side by side: --model (A) and --model-b (B, default: A) with "
                               "--b-set settings, on one query and its documents")
    both.add_argument("--query", required=True)
    both.add_argument("--documents", required=True, help=f"{', '.join(FORMATS)} file, or - for stdin")
    both.add_argument("--model-b", default=None, help="encoder B (default: the --model)")
    both.add_argument("--dimensions-b", type=_positive_int, default=None, help="B's output size (default: native)")
    both.add_argument("--b-set", action="append", default=[], metavar="KEY=VALUE",
                      help="a tokenizer setting for B (repeatable): query_expansion, attend_to_mask_tokens, "
                           "skiplist, query_maxlen, doc_maxlen, query_marker, doc_marker")
    both.add_argument("--pair", type=int, nargs=2, default=None, metavar=("I", "J"),
                      help="two documents (0-based, input order): why A and B order them as they do")

    api = sub.add_parser("compare-api", parents=[common],
                         help="Jina's API (JINA_API_KEY) beside the open weights: /v1/rerank vs MaxSim over the "
                              "API's vectors, its 96/64 vs the cut of its 128, and the --model's vectors if given")
    api.add_argument("--query", required=True)
    api.add_argument("--documents", required=True, help=f"{', '.join(FORMATS)} file, or - for stdin")
    api.add_argument("--no-local", action="store_true", help="compare with the API only (no --model loaded)")

    sub.add_parser("recipe", parents=[common], help="how --model turns text into scored vectors (its recipe, read "
                   "from its files: Stanford, PyLate, Sentence Transformers 6, jina-colbert-v2)")

    from colbert_viz.collections.commands import add_parsers

    add_parsers(sub, [common], _positive_int, ", ".join(FORMATS))

    make = sub.add_parser("make-checkpoint", help="random weights in jina-colbert-v2's layout (tests, benchmarks)")
    make.add_argument("dir", type=Path, help="a new or empty folder")
    make.add_argument("--size", choices=("tiny", "full"), required=True,
                      help="tiny: 2 layers, 64 wide; full: jina-colbert-v2's 24 layers, 1024 wide")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--sibling-of", type=Path, default=None, metavar="BASE",
                      help="instead: a -96/-64-style sibling of the checkpoint BASE (same backbone, a random "
                           "--head-dim head; with --cut, the first rows of BASE's head)")
    make.add_argument("--head-dim", type=_positive_int, default=96)
    make.add_argument("--cut", action="store_true")
    return parser


def _is_jsonl(content: str) -> bool:
    """Whether every non-blank line is a JSON string or an object with a string ``text``.

    >>> _is_jsonl('{"text": "a"}\\n\\n"b"\\n'), _is_jsonl('"a"\\nplain'), _is_jsonl("\\n")
    (True, False, False)
    """
    lines = [line for line in content.splitlines() if line.strip()]
    for line in lines:
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            return False
        if not (isinstance(item, str) or (isinstance(item, dict) and isinstance(item.get("text"), str))):
            return False
    return bool(lines)


def read_texts(source: str) -> list[str]:
    """Texts from a file or stdin (``-``: a JSON list if it parses as one, JSONL
    when every non-blank line is a JSON string or an object with ``text``, else lines)."""
    if source != "-":
        return read_documents(source)
    content = sys.stdin.read()
    if content.lstrip().startswith("["):
        return parse_documents(content, ".json")
    return parse_documents(content, ".jsonl" if _is_jsonl(content) else ".txt")


def make_sibling(base: Path, folder: Path, dim: int, seed: int, cut: bool) -> dict:
    from colbert_viz.engine.synthetic import write_sibling

    if not (base / "config.json").is_file():
        raise InputError(f"{base} is not a checkpoint folder (no config.json)")
    try:
        write_sibling(base, folder, dim, seed=seed or 1, cut=cut)
    except (FileExistsError, ValueError) as err:
        raise InputError(str(err)) from None
    return {"checkpoint": str(folder), "sibling_of": str(base), "head_dim": dim, "cut": cut}


def make_checkpoint(folder: Path, size: str, seed: int) -> dict:
    """Write a random checkpoint to ``folder``, which must be new or empty."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder}: {'is not a folder' if not folder.is_dir() else 'is not empty'}; "
                         "choose a new or empty folder")
    from colbert_viz.engine.synthetic import FULL_SIZE, TINY, write_checkpoint

    write_checkpoint(folder, shape=TINY if size == "tiny" else FULL_SIZE, seed=seed)
    return {"checkpoint": str(folder), "size": size, "seed": seed}


def _vectors(model, records, dim: int) -> list[dict]:
    return [
        {"embeddings": r.at_dim(dim).tolist(), "tokens": r.tokens, "ids": r.ids.tolist(),
         "scored": r.scored.tolist(), "truncated": r.truncated, "n_text_tokens": r.n_text_tokens}
        for r in records
    ]


def run(args: argparse.Namespace) -> dict:
    if args.command == "make-checkpoint":
        if args.sibling_of is not None:
            return make_sibling(args.sibling_of, args.dir, args.head_dim, args.seed, args.cut)
        return make_checkpoint(args.dir, args.size, args.seed)
    from colbert_viz.engine.loading import load, reprobe

    if args.reprobe_dtype:
        reprobe()
    if args.command in ("index", "search", "first-stage"):
        from colbert_viz.collections.commands import run_command

        return run_command(args, read_texts)
    from colbert_viz.maths.scoring import check_dim

    texts = read_texts(args.file) if args.command == "encode" else None
    documents = read_texts(args.documents) if args.command in ("rerank", "compress", "compare", "compare-api") else None
    if documents is not None and not documents:
        raise InputError(f"no documents to {args.command}")
    if texts is not None and not texts:
        raise InputError("no texts to encode")
    if args.command == "compare-api":
        return compare_api_command(args, documents)
    if args.command == "compare":
        return compare_command(args, documents)
    model = load(args.model, dtype=args.dtype, device=args.device, skiplist=args.skiplist)
    if args.verbose:
        print(f"colbert-viz: {model.info.display_name} on {model.info.device}, {model.info.dtype_reason}",
              file=sys.stderr)
    if args.command == "recipe":
        recipe = model.info.recipe
        if recipe is None:  # Jina's API: its vectors come as they are, no checkpoint files to read
            raise InputError(f"{model.info.display_name} has no recipe to read: it is Jina's hosted API "
                             "(jina-colbert-v2's recipe: --model jinaai/jina-colbert-v2)")
        return {"model": model.info.display_name, "recipe": recipe.to_dict(),
                "table": [{"setting": k, "value": v} for k, v in recipe.rows()]}
    dim = check_dim(model.info.dim if args.dimensions is None else args.dimensions, model.dimensions)
    out: dict = {"model": model.info.name, "dimensions": dim}
    if model.info.is_fallback:
        out["note"] = model.info.note
    if args.command == "encode":
        if args.input_type == "query":
            records = model.encode_queries(texts)
        else:
            records = model.encode_documents(texts, args.doc_maxlen)
        out["data"] = _vectors(model, records, dim)
        out["usage"] = {"total_tokens": sum(len(r) for r in records)}
    elif args.command == "rerank":
        analysis = model.analyze(args.query, documents, args.doc_maxlen)
        out["results"] = analysis.rerank(dim, args.top_n)
        out["usage"] = {"total_tokens": len(analysis.query) + sum(len(d) for d in analysis.documents)}
    elif args.command == "compress":
        from colbert_viz.storage.analysis import StoredAnalysis

        stored = StoredAnalysis(model.analyze(args.query, documents, args.doc_maxlen))
        out["storage"], out["unavailable"] = stored.compression_table(), stored.unavailable()
    else:
        explanation = model.explain(args.query, args.document, dim, args.merge_words, args.doc_maxlen)
        out["explanation"] = explanation.to_dict()
    if hasattr(model, "tokens_used"):  # Jina's API: the tokens it counted, and any note on its vectors
        out["note"], out["api_tokens"] = model.note(), model.tokens_used
    return out


def compare_command(args: argparse.Namespace, documents: list[str]) -> dict:
    """``compare``: ``colbert_viz.compare_encoders`` of ``--model`` and ``--model-b`` (the same
    model loaded once when B is A) under B's ``--b-set`` settings."""
    from colbert_viz.engine.encoder_compare import compare_encoders, settings_changes, with_changes
    from colbert_viz.engine.loading import load

    changes = settings_changes(args.b_set)  # before any model loads
    model_a = load(args.model, dtype=args.dtype, device=args.device, skiplist=args.skiplist)
    name_b = args.model_b or args.model
    model_b = model_a if name_b == args.model else load(name_b, dtype=args.dtype, device=args.device,
                                                         skiplist=args.skiplist)
    model_b = with_changes(model_b, changes)
    result = compare_encoders(model_a, model_b, args.query, documents, args.dimensions, args.dimensions_b,
                              args.doc_maxlen, args.pair)
    return result.to_dict()


def compare_api_command(args: argparse.Namespace, documents: list[str]) -> dict:
    """``compare-api``: ``colbert_viz.compare_api`` with ``JINA_API_KEY``, beside ``--model`` unless ``--no-local``."""
    from colbert_viz.engine.api_compare import compare_api
    from colbert_viz.engine.api_encoder import API_MODEL, is_api_model, load_api
    from colbert_viz.engine.loading import load

    api = load_api(API_MODEL, skiplist=args.skiplist)
    local = None
    if not args.no_local and not is_api_model(args.model):
        local = load(args.model, dtype=args.dtype, device=args.device, skiplist=args.skiplist)
    try:
        return compare_api(api, args.query, documents, local, args.doc_maxlen)
    finally:
        api.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from colbert_viz.collections.backends import CollectionError
    from colbert_viz.engine.checkpoint import ModelLoadError
    from colbert_viz.engine.encoder import NonFiniteOutputError

    try:
        result = run(args)
    except (InputError, ValueError, ModelLoadError, NonFiniteOutputError, OSError, IndexError,
            CollectionError) as err:
        print(f"colbert-viz: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug, not bad input: still one line, no traceback
        print(f"colbert-viz: unexpected error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    try:
        json.dump(result, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (e.g. `| head`): not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return 0


if __name__ == "__main__":
    sys.exit(main())

