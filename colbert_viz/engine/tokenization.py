"""ColBERT tokenization: markers, query expansion, truncation and the skiplist.

The layout follows jina-colbert-v2 (and Stanford ColBERT / FastEmbed):

- query:    ``<s> [QueryMarker] text… </s> <mask> <mask> …`` exactly ``query_maxlen``
  tokens when ``query_expansion`` is on; all of them attended and scored.
- document: ``<s> [DocumentMarker] text… </s>``, at most ``doc_maxlen`` tokens.

Text tokens are cut so that the whole sequence, specials and marker included,
fits the maximum length; the cut is reported (``truncated``, ``n_text_tokens``).

The text itself is tokenized exactly as the model's own tokenizer does by
default (``Tokenizer.encode(text, add_special_tokens=False)``): a special token
typed in the text (``<s>``, ``</s>``, ``<mask>``, ``[QueryMarker]`` …) becomes
that token, as in Jina's code, Stanford ColBERT, PyLate and FastEmbed. Such
tokens are flagged ``typed_special``; they are text, scored like text.
"""

from __future__ import annotations

import json
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tokenizers import AddedToken, Tokenizer

from colbert_viz.records import Kind, Tokenized

Skiplist = Literal["reader", "stanford", "none"]
SKIPLISTS: tuple[str, ...] = ("reader", "stanford", "none")
MASK_TOKENS = ("<mask>", "[MASK]")
# The longest text accepted by the package: tokenizing it still takes well under a
# second. The app has its own, lower limits.
MAX_CHARS = 1_000_000


@dataclass(frozen=True)
class TokenizerSettings:
    """How texts are laid out for one model (from its ``artifact.metadata``).

    ``query_marker`` / ``doc_marker`` are token strings, or ``None`` for models
    without markers. ``doc_maxlen`` is the default maximum document length and
    ``doc_limit`` the most a caller may ask for (the model's position limit).
    """

    query_maxlen: int = 32
    doc_maxlen: int = 8192
    query_marker: str | None = "[QueryMarker]"
    doc_marker: str | None = "[DocumentMarker]"
    query_expansion: bool = True
    attend_to_mask_tokens: bool = True
    skiplist: Skiplist = "reader"
    doc_limit: int = 8192
    # Recipes other than jina-colbert-v2's (``colbert_viz.engine.recipe``):
    query_prefix: str = ""  # prepended as text (one special token when the tokenizer holds it as one)
    doc_prefix: str = ""
    prefix_tokens: bool = False  # a prefix the vocabulary holds becomes one special token (PyLate, Stanford)
    expansion_strategy: str = "fixed"  # "fixed": padded and cut to query_maxlen; "min": padded to expansion_length
    expansion_length: int | None = None  # the padding target of "min" (None: query_maxlen)
    expansion_token: str | None = None  # None: <mask> or [MASK]
    skip_words: tuple[str, ...] | None = None  # vocabulary tokens skipped (None: the ``skiplist`` convention)
    lowercase: bool = False  # a Lowercase normalizer in front of the tokenizer's own


class TextError(ValueError):
    """An input text that cannot be encoded; the message names the input."""


def clean_text(text: str) -> str:
    """Replace control characters and lone surrogates, keeping every offset.

    Control characters (Unicode category Cc, except tab, newline and carriage
    return) become spaces; lone surrogates become U+FFFD. The result has the
    same length as ``text``, so token spans index the original text.

    >>> clean_text("a\\x00b\\x07c\\td")
    'a b c\\td'
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in "\t\n\r":
            out.append(ch)
        elif unicodedata.category(ch) == "Cc":
            out.append(" ")
        elif unicodedata.category(ch) == "Cs":
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def check_texts(texts: Sequence[str], kind: Kind, max_chars: int = MAX_CHARS) -> list[str]:
    """Validate and clean texts; raise ``TextError`` naming the first bad one.

    Rules: each item must be a ``str``; empty or whitespace-only texts are
    refused (they have no token to score); texts over ``max_chars`` characters
    are refused.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        got = "a single string" if isinstance(texts, str) else type(texts).__name__
        raise TextError(f"expected a list of {kind} texts, got {got}")
    cleaned = []
    for i, text in enumerate(texts):
        name = f"{kind} {i}" if kind == "document" else kind
        if not isinstance(text, str):
            raise TextError(f"{name} is a {type(text).__name__}, not a string")
        text = clean_text(text)
        if not text.strip():
            raise TextError(f"{name} is empty or whitespace only")
        if len(text) > max_chars:
            raise TextError(f"{name} has {len(text):,} characters; the limit is {max_chars:,}")
        cleaned.append(text)
    return cleaned


def skiplist_ids(tokenizer: Tokenizer, convention: Skiplist) -> frozenset[int]:
    """Token ids excluded from document scoring, for one skiplist convention.

    - ``"reader"`` (default, as PyLate): each ``string.punctuation`` symbol looked
      up as a vocabulary token: the bare pieces a reader sees (``,`` ``.`` ``?``).
      Symbols that are not vocabulary tokens are ignored.
    - ``"stanford"`` (as Stanford ColBERT and FastEmbed): the first id of
      encoding each symbol; with sentencepiece vocabularies these are mostly the
      space-prefixed pieces (``▁!``) and the bare word boundary ``▁``.
    - ``"none"``: nothing is skipped.
    """
    if convention == "none":
        return frozenset()
    ids: set[int] = set()
    for symbol in string.punctuation:
        if convention == "reader":
            token_id = tokenizer.token_to_id(symbol)
            if token_id is not None:
                ids.add(token_id)
        elif convention == "stanford":
            encoded = tokenizer.encode(symbol, add_special_tokens=False).ids
            if encoded:
                ids.add(encoded[0])
        else:
            raise ValueError(f"unknown skiplist {convention!r}; choose one of {SKIPLISTS}")
    return frozenset(ids)


class ColbertTokenizer:
    """Turns texts into ``Tokenized`` records for one model."""

    def __init__(self, tokenizer: Tokenizer, settings: TokenizerSettings) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        # Text that spells a special token ("<s>", "<mask>", "[QueryMarker]") becomes that
        # token, as with the model's own tokenizer (its default): the model sees those ids.
        tokenizer.encode_special_tokens = False
        if settings.lowercase:
            _lowercase(tokenizer)
        if settings.prefix_tokens:
            for kind, prefix in (("query", settings.query_prefix), ("document", settings.doc_prefix)):
                if not _register_prefix(tokenizer, prefix):
                    raise ValueError(f"the {kind} marker {prefix.strip()!r} that the recipe names is not a token "
                                     "of this tokenizer (it would be read as plain text)")
        self.tokenizer = tokenizer
        self.special_texts = special_token_texts(tokenizer)
        self.special_ids = np.array(sorted(self.special_texts), dtype=np.int64)
        self.settings = settings
        self.cls_id, self.sep_id = _cls_sep_ids(tokenizer)
        if settings.expansion_token is not None:
            self.mask_id = _first_token_id(tokenizer, [settings.expansion_token], "expansion")
        elif settings.query_expansion:
            self.mask_id = _first_token_id(tokenizer, MASK_TOKENS, "mask")
        else:
            self.mask_id = tokenizer.token_to_id("<mask>") or tokenizer.token_to_id("[MASK]")
        self.query_marker_id = _marker_id(tokenizer, settings.query_marker)
        self.doc_marker_id = _marker_id(tokenizer, settings.doc_marker)
        if settings.skip_words is not None:
            found = (tokenizer.token_to_id(w) for w in settings.skip_words)
            self.skip_ids = frozenset(i for i in found if i is not None)
        else:
            self.skip_ids = skiplist_ids(tokenizer, settings.skiplist)
        if settings.query_maxlen < 3 + (self.query_marker_id is not None):
            raise ValueError(f"query_maxlen {settings.query_maxlen} leaves no room for text")
        if settings.query_expansion and settings.expansion_strategy == "min" and \
                (settings.expansion_length or 0) > settings.query_maxlen:
            raise ValueError(f"query length {settings.query_maxlen} is below the expansion length "
                             f"{settings.expansion_length}, which every query is padded to")

    @classmethod
    def from_dir(cls, path: str | Path, settings: TokenizerSettings, as_transformers: bool = False) -> ColbertTokenizer:
        """Load ``tokenizer.json`` from a checkpoint folder, adding missing markers
        as special tokens (the BERT-family checkpoints reuse ``[unusedN]`` tokens,
        which already exist). ``as_transformers``: the tokenizer transformers'
        ``AutoTokenizer`` builds from the folder (what Sentence Transformers and PyLate
        run: it can rebuild the normalizer from ``tokenizer_config.json``)."""
        path = Path(path)
        file = path / "tokenizer.json"
        if as_transformers or (not file.is_file() and (path / "vocab.txt").is_file()):
            tokenizer = _transformers_tokenizer(path)
        elif file.is_file():
            tokenizer = Tokenizer.from_file(str(file))
        else:
            raise FileNotFoundError(f"{path} has no tokenizer.json (or vocab.txt)")
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        missing = [m for m in (settings.query_marker, settings.doc_marker) if m and m not in vocab]
        if missing:
            tokenizer.add_special_tokens(
                [AddedToken(m, special=True, normalized=False) for m in missing]
            )
        return cls(tokenizer, settings)

    def skip_tokens(self, order: Sequence[str] = ()) -> tuple[str, ...]:
        """The tokens the skiplist drops (``skip_ids``), those in ``order`` first and in its order,
        then the rest by id: the same skiplist always reads the same."""
        rank = {word: k for k, word in enumerate(order)}
        tokens = [self.tokenizer.id_to_token(i) for i in sorted(self.skip_ids)]
        return tuple(sorted(tokens, key=lambda t: rank.get(t, len(rank))))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def facts(self) -> dict:
        """The layout rules as plain data, read off the settings and the vocabulary
        (never off a tokenized text): ``query_tokens`` (the query length, exact
        when ``expansion`` names the padding token, else the most a query keeps),
        ``query_marker`` / ``doc_marker`` (``None`` without), ``specials`` (the
        tokens around every text) and ``subword`` (``"wordpiece"``: ``##`` marks a
        continuation; ``"sentencepiece"``: ``▁`` marks a word start)."""
        s, name = self.settings, self.tokenizer.id_to_token
        return {"query_tokens": s.query_maxlen,
                "expansion": [name(self.mask_id)] if s.query_expansion else [],
                "query_marker": s.query_marker if self.query_marker_id is not None else (s.query_prefix or None),
                "doc_marker": s.doc_marker if self.doc_marker_id is not None else (s.doc_prefix or None),
                "specials": [name(self.cls_id), name(self.sep_id)],
                "subword": "wordpiece" if type(self.tokenizer.model).__name__ == "WordPiece" else "sentencepiece"}

    def tokenize_queries(self, texts: Sequence[str]) -> list[Tokenized]:
        """Queries, each exactly ``query_maxlen`` tokens when expansion is on."""
        texts = check_texts(texts, "query")
        return [self._layout(t, e, "query", self.settings.query_maxlen) for t, e in
                zip(texts, self._encode(texts, self.settings.query_prefix))]

    def tokenize_documents(self, texts: Sequence[str], doc_maxlen: int | None = None) -> list[Tokenized]:
        """Documents, each at most ``doc_maxlen`` tokens (default: the model's)."""
        maxlen = self.settings.doc_maxlen if doc_maxlen is None else doc_maxlen
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or not 4 <= maxlen <= self.settings.doc_limit:
            raise ValueError(f"doc_maxlen must be an integer from 4 to {self.settings.doc_limit}, got {maxlen!r}")
        texts = check_texts(texts, "document")
        return [self._layout(t, e, "document", maxlen) for t, e in
                zip(texts, self._encode(texts, self.settings.doc_prefix))]

    def _encode(self, texts: list[str], prefix: str = ""):
        return self.tokenizer.encode_batch([prefix + t for t in texts], add_special_tokens=False)

    def _layout(self, text: str, encoding, kind: Kind, maxlen: int) -> Tokenized:
        marker_id = self.query_marker_id if kind == "query" else self.doc_marker_id
        head = [self.cls_id] + ([marker_id] if marker_id is not None else [])
        room = maxlen - len(head) - 1
        prefix = self.settings.query_prefix if kind == "query" else self.settings.doc_prefix
        in_prefix = sum(1 for start, _ in encoding.offsets if start < len(prefix))  # flagged as markers
        n_prompt = min(in_prefix, room)
        n_text = len(encoding.ids) - in_prefix
        body = list(encoding.ids[:room])
        text_tokens = list(encoding.tokens[:room])
        shift = len(prefix)
        offsets = [(max(s - shift, 0), max(e - shift, 0)) for s, e in encoding.offsets[:room]]
        spans = [(0, 0) if k < n_prompt else _visible(text, s, t)
                 for k, (s, t) in enumerate(zip(offsets, text_tokens))]
        typed = np.zeros(len(body), bool)
        for k in np.flatnonzero(np.isin(body, self.special_ids)):
            if k < n_prompt:
                continue
            if self.is_typed_special(text, body[k], spans[k]):
                typed[k] = True
                text_tokens[k] = self.special_texts[body[k]]  # e.g. '<mask>', not ' <mask>' (lstrip)
        ids = head + body + [self.sep_id]
        tokens = [self.tokenizer.id_to_token(i) for i in head] + text_tokens
        tokens.append(self.tokenizer.id_to_token(self.sep_id))
        spans = [(0, 0)] * len(head) + spans + [(0, 0)]
        n = len(ids)
        special = np.zeros(n, bool)
        special[: len(head) + n_prompt] = True
        special[-1] = True
        marker = np.zeros(n, bool)
        marker[len(head) - (marker_id is not None): len(head) + n_prompt] = True
        n_expansion = 0
        if kind == "query" and self.settings.query_expansion:
            n_expansion = max(0, (self.settings.expansion_length or maxlen) - n)
            ids += [self.mask_id] * n_expansion
            tokens += [self.tokenizer.id_to_token(self.mask_id)] * n_expansion
            spans += [(0, 0)] * n_expansion
        pad = np.zeros(n_expansion, bool)
        ids_arr = np.asarray(ids, np.int64)
        typed_special = np.zeros(len(ids), bool)
        typed_special[len(head): n - 1] = typed
        skipped = np.zeros(len(ids), bool)
        if kind == "document" and self.skip_ids:
            # the text and a prefix's tokens (a prompt's ':' is skipped too, as Sentence Transformers does)
            start = len(head)
            skipped[start: n - 1] = np.isin(ids_arr[start: n - 1], list(self.skip_ids)) & ~typed
            prompt_skipped = skipped[start: start + n_prompt]
            special[start: start + n_prompt] &= ~prompt_skipped  # shown as skipped, not as a marker
            marker[start: start + n_prompt] &= ~prompt_skipped
        return Tokenized(
            text=text,
            kind=kind,
            ids=ids_arr,
            tokens=tokens,
            spans=spans,
            special=np.concatenate([special, pad]),
            marker=np.concatenate([marker, pad]),
            expansion=np.concatenate([np.zeros(n, bool), ~pad]),
            skipped=skipped,
            n_text_tokens=n_text,
            truncated=n_text > room,
            typed_special=typed_special,
        )

    def is_typed_special(self, text: str, token_id: int, span: tuple[int, int]) -> bool:
        """Whether a text token is a special token spelled out in ``text``.

        Its id must be a special token's and its characters that token's text
        (so an unknown character, which also maps to ``<unk>``, is not one).
        """
        content = self.special_texts.get(token_id)
        if content is None:
            return False
        piece = text[span[0]: span[1]]
        normalizer = self.tokenizer.normalizer
        return piece == content or (normalizer is not None
                                    and normalizer.normalize_str(piece) == normalizer.normalize_str(content))


def _transformers_tokenizer(path: Path) -> Tokenizer:
    """The fast tokenizer transformers builds for ``path`` (its ``backend_tokenizer``)."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        loaded = AutoTokenizer.from_pretrained(str(path), use_fast=True)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"transformers cannot load the tokenizer: {err}") from err
    finally:
        hf_logging.set_verbosity(verbosity)
    backend = getattr(loaded, "backend_tokenizer", None)
    if backend is None:
        raise ValueError("the tokenizer is not a fast (tokenizers) one")
    return backend


def _lowercase(tokenizer: Tokenizer) -> None:
    """Put a Lowercase normalizer in front of the tokenizer's own, unless it has one (as Sentence
    Transformers does for ``do_lower_case``); offsets still index the original text."""
    from tokenizers import normalizers

    if lowercases(tokenizer):
        return
    current = tokenizer.normalizer
    tokenizer.normalizer = normalizers.Sequence([normalizers.Lowercase()] + ([current] if current else []))


def lowercases(tokenizer: Tokenizer) -> bool:
    """Whether the tokenizer's normalizer lower-cases (a ``Lowercase``, or BERT's with ``lowercase``).

    >>> from tokenizers import Tokenizer, models, normalizers
    >>> t = Tokenizer(models.WordLevel({"a": 0}, unk_token="a"))
    >>> lowercases(t), t.normalizer is None
    (False, True)
    >>> t.normalizer = normalizers.BertNormalizer(lowercase=True)
    >>> lowercases(t)
    True
    """
    current = tokenizer.normalizer
    return current is not None and "lowercase" in repr(current).lower().replace("lowercase=false", "")


def _register_prefix(tokenizer: Tokenizer, prefix: str) -> bool:
    """A prefix (or its first word) that the vocabulary holds but the tokenizer splits becomes one
    special, non-normalised token (``[unused0]``, ``"[Q] "``), as Sentence Transformers registers
    the markers of PyLate and Stanford checkpoints. False: the vocabulary holds neither (Sentence
    Transformers would read the marker as plain text, silently; colbert-viz refuses it)."""
    if not prefix.split():
        return True
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    for candidate in (prefix, prefix.split(None, 1)[0]):
        if candidate not in vocab:
            continue
        if tokenizer.encode(candidate, add_special_tokens=False).tokens != [candidate]:
            tokenizer.add_special_tokens([AddedToken(candidate, special=True, normalized=False)])
        return True
    return False


def _visible(text: str, span: tuple[int, int], token: str = "") -> tuple[int, int]:
    """A token's character span without the whitespace its word-boundary marker stands for.

    A bare word-boundary piece (``▁``) shows no character: its span is empty (at the
    start of a text the tokenizer attributes it to the first character). A special
    token that strips the spaces around it (``lstrip``/``rstrip``) loses them too.

    >>> _visible("hi <mask> x", (2, 9))
    (3, 9)
    """
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if token and not token.strip("\u2581"):
        return start, start
    return start, end


def special_token_texts(tokenizer: Tokenizer) -> dict[int, str]:
    """The tokenizer's special tokens: id → the text that spells it.

    >>> from tokenizers.models import WordLevel
    >>> t = Tokenizer(WordLevel({"a": 0}, unk_token="a"))
    >>> t.add_special_tokens(["<s>"])
    1
    >>> special_token_texts(t)
    {1: '<s>'}
    """
    return {i: token.content for i, token in tokenizer.get_added_tokens_decoder().items() if token.special}


def _cls_sep_ids(tokenizer: Tokenizer) -> tuple[int, int]:
    """The ids the post-processor puts around one sequence (``<s>``/``</s>``, ``[CLS]``/``[SEP]``)."""
    ids = tokenizer.encode("", add_special_tokens=True).ids
    if len(ids) != 2:
        raise ValueError("the tokenizer does not wrap a sequence in exactly two special tokens")
    return ids[0], ids[1]


def _first_token_id(tokenizer: Tokenizer, candidates: Sequence[str], what: str) -> int:
    for token in candidates:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return token_id
    raise ValueError(f"the tokenizer has no {what} token (looked for {', '.join(candidates)})")


def _marker_id(tokenizer: Tokenizer, marker: str | None) -> int | None:
    if marker is None:
        return None
    token_id = tokenizer.token_to_id(marker)
    if token_id is None:
        raise ValueError(f"the tokenizer has no marker token {marker!r}")
    return token_id


def read_metadata(path: str | Path) -> dict:
    """``artifact.metadata`` as a dict (empty when the file is absent)."""
    file = Path(path) / "artifact.metadata"
    if not file.is_file():
        return {}
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON: {err}") from err
