"""Tokenization with the real XLM-R tokenizer plus jina-colbert-v2's markers.

Every expected id sequence is built from the plain tokenizer's own encoding of the
text (``Tokenizer.encode(text, add_special_tokens=False)``), wrapped the way
model-facts.md says: ``<s> [QueryMarker] … </s> <mask>…`` (32 ids) for queries and
``<s> [DocumentMarker] … </s>`` for documents.
"""

from __future__ import annotations

import string
import time
import unicodedata

import numpy as np
import pytest
from tokenizers import AddedToken, Tokenizer

from colbert_viz.engine.tokenization import (
    MAX_CHARS,
    ColbertTokenizer,
    TextError,
    TokenizerSettings,
    check_texts,
    clean_text,
    skiplist_ids,
)

CLS, PAD, SEP, MASK = 0, 1, 2, 250001
QUERY_MARKER, DOC_MARKER = 250002, 250003
COMMA, PERIOD, WORD_BOUNDARY = 4, 5, 6

MULTILINGUAL = {
    "en": "What is the population of Berlin?",
    "de": "Die Bevölkerung Berlins wächst jedes Jahr um etwa 0,7 Prozent.",
    "zh": "柏林的人口是多少？柏林是德国的首都。",
    "ar": "ما هو عدد سكان برلين؟ برلين هي عاصمة ألمانيا.",
    "ja": "ベルリンの人口は何人ですか？ベルリンはドイツの首都です。",
    "ru": "Какова численность населения Берлина?",
    "hi": "बर्लिन की जनसंख्या कितनी है?",
}
# Scripts whose pieces the tokenizer leaves unnormalised, so every span shows
# exactly the token's characters.
VERBATIM = ("en", "de", "ar", "ru", "hi")


@pytest.fixture(scope="module")
def folder(tiny_checkpoint):
    return tiny_checkpoint


@pytest.fixture(scope="module")
def raw(folder) -> Tokenizer:
    """The checkpoint's tokenizer as the tokenizers library loads it: the reference."""
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


@pytest.fixture(scope="module")
def tok(folder) -> ColbertTokenizer:
    return ColbertTokenizer.from_dir(folder, TokenizerSettings())


def variant(tok: ColbertTokenizer, **settings) -> ColbertTokenizer:
    """The same loaded tokenizer with other settings (loading tokenizer.json takes ~1 s)."""
    return ColbertTokenizer(tok.tokenizer, TokenizerSettings(**settings))


@pytest.fixture(scope="module")
def tokenizers_by_skiplist(tok) -> dict[str, ColbertTokenizer]:
    return {name: variant(tok, skiplist=name) for name in ("reader", "stanford", "none")}


def ref_ids(raw: Tokenizer, text: str) -> list[int]:
    return raw.encode(text, add_special_tokens=False).ids


def expected_query(raw: Tokenizer, text: str) -> list[int]:
    body = [CLS, QUERY_MARKER, *ref_ids(raw, text)[:29], SEP]
    return body + [MASK] * (32 - len(body))


def expected_document(raw: Tokenizer, text: str) -> list[int]:
    return [CLS, DOC_MARKER, *ref_ids(raw, text), SEP]


# ---- the tokenizer and its special ids ------------------------------------------------


def test_special_ids_and_vocabulary(tok, raw):
    assert (tok.cls_id, tok.sep_id, tok.mask_id) == (CLS, SEP, MASK)
    assert (tok.query_marker_id, tok.doc_marker_id) == (QUERY_MARKER, DOC_MARKER)
    assert tok.vocab_size == 250004
    assert raw.token_to_id("<pad>") == PAD
    assert raw.id_to_token(QUERY_MARKER) == "[QueryMarker]"
    assert raw.id_to_token(DOC_MARKER) == "[DocumentMarker]"


# ---- queries --------------------------------------------------------------------------


def test_query_layout_is_exactly_32(tok, raw):
    text = MULTILINGUAL["en"]
    q = tok.tokenize_queries([text])[0]
    body = ref_ids(raw, text)
    n = len(body) + 3
    assert len(q) == 32
    assert q.ids.dtype == np.int64
    assert q.ids.tolist() == expected_query(raw, text)
    assert q.ids.tolist()[: n] == [CLS, QUERY_MARKER, *body, SEP]
    assert q.tokens[:2] == ["<s>", "[QueryMarker]"]
    assert q.tokens[n - 1] == "</s>"
    assert q.tokens[n:] == ["<mask>"] * (32 - n)
    assert q.kind == "query" and q.text == text
    assert q.n_text_tokens == len(body) and not q.truncated
    # flags
    assert np.flatnonzero(q.special).tolist() == [0, 1, n - 1]
    assert np.flatnonzero(q.marker).tolist() == [1]
    assert np.flatnonzero(q.expansion).tolist() == list(range(n, 32))
    assert not q.skipped.any() and q.scored.all()
    assert np.flatnonzero(q.in_text).tolist() == list(range(2, n - 1))
    # specials and expansion are not in the text
    assert all(q.spans[i] == (0, 0) for i in [0, 1, *range(n - 1, 32)])


def test_queries_are_never_skipped(tokenizers_by_skiplist):
    for name, tok in tokenizers_by_skiplist.items():
        q = tok.tokenize_queries(["Hello, world. (Who?) 柏林"])[0]
        assert COMMA in q.ids and PERIOD in q.ids, name
        assert not q.skipped.any(), name


def test_query_without_expansion_is_not_padded(tok, raw):
    q = variant(tok, query_expansion=False).tokenize_queries(["Hello World"])[0]
    assert q.ids.tolist() == [CLS, QUERY_MARKER, *ref_ids(raw, "Hello World"), SEP]
    assert not q.expansion.any()


def test_query_truncated_to_32(tok, raw):
    text = " ".join(f"word{i}" for i in range(60))
    n_full = len(ref_ids(raw, text))
    assert n_full > 29
    q = tok.tokenize_queries([text])[0]
    assert len(q) == 32
    assert q.ids[31] == SEP and q.tokens[31] == "</s>"
    assert q.ids.tolist() == [CLS, QUERY_MARKER, *ref_ids(raw, text)[:29], SEP]
    assert q.truncated and q.n_text_tokens == n_full
    assert not q.expansion.any()
    assert np.flatnonzero(q.special).tolist() == [0, 1, 31]


def test_query_that_exactly_fits_is_not_truncated(tok, raw):
    words = []
    while len(ref_ids(raw, " ".join(words))) < 29:
        words.append("Berlin")
    text = " ".join(words)
    assert len(ref_ids(raw, text)) == 29
    q = tok.tokenize_queries([text])[0]
    assert len(q) == 32 and not q.truncated and not q.expansion.any()
    assert q.ids[31] == SEP
    longer = tok.tokenize_queries([text + " Berlin"])[0]
    assert len(longer) == 32 and longer.truncated and longer.n_text_tokens == 30


# ---- documents ------------------------------------------------------------------------


def test_document_layout(tok, raw):
    text = "Berlin is the capital and largest city of Germany"
    d = tok.tokenize_documents([text])[0]
    body = ref_ids(raw, text)
    n = len(body) + 3
    assert d.ids.tolist() == [CLS, DOC_MARKER, *body, SEP]
    assert len(d) == n and d.kind == "document"
    assert d.tokens[0] == "<s>" and d.tokens[1] == "[DocumentMarker]" and d.tokens[-1] == "</s>"
    assert d.tokens[2:-1] == raw.encode(text, add_special_tokens=False).tokens
    assert np.flatnonzero(d.special).tolist() == [0, 1, n - 1]
    assert np.flatnonzero(d.marker).tolist() == [1]
    assert not d.expansion.any()
    assert not d.skipped.any()  # no punctuation in the text
    assert d.n_text_tokens == len(body) and not d.truncated


def test_hello_world_document_has_five_tokens(tok):
    d = tok.tokenize_documents(["Hello World"])[0]
    assert len(d) == 5
    assert d.ids.tolist() == [CLS, DOC_MARKER, 35378, 6661, SEP]
    assert d.tokens == ["<s>", "[DocumentMarker]", "▁Hello", "▁World", "</s>"]
    assert d.spans == [(0, 0), (0, 0), (0, 5), (6, 11), (0, 0)]


def test_batch_keeps_order_and_each_text(tok, raw):
    texts = list(MULTILINGUAL.values())
    docs = tok.tokenize_documents(texts)
    assert [d.text for d in docs] == texts
    for text, d in zip(texts, docs):
        assert d.ids.tolist() == expected_document(raw, text)


@pytest.mark.parametrize("lang", sorted(MULTILINGUAL))
def test_multilingual_ids_match_the_tokenizer(tok, raw, lang):
    text = MULTILINGUAL[lang]
    body = ref_ids(raw, text)
    assert body and 3 not in body, "the text should tokenize without <unk>"
    d = tok.tokenize_documents([text])[0]
    assert d.ids.tolist() == expected_document(raw, text)
    assert d.n_text_tokens == len(body)
    q = tok.tokenize_queries([text])[0]
    assert q.ids.tolist() == expected_query(raw, text)
    assert len(q) == 32


@pytest.mark.parametrize("lang", sorted(MULTILINGUAL))
def test_spans_in_bounds_and_ordered(tok, lang):
    text = MULTILINGUAL[lang]
    for record in (tok.tokenize_documents([text])[0], tok.tokenize_queries([text])[0]):
        positions = np.flatnonzero(record.in_text)
        spans = [record.spans[i] for i in positions]
        assert spans, "a text has text tokens"
        for start, end in spans:
            assert 0 <= start <= end <= len(text)
        starts = [s for s, _ in spans]
        ends = [e for _, e in spans]
        assert starts == sorted(starts) and ends == sorted(ends)
        # every visible character of the text (other than spaces) is covered by a token
        covered = set()
        for start, end in spans:
            covered.update(range(start, end))
        assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered
        # what each span shows is the token, up to the tokenizer's NFKC normalisation
        for i in positions:
            start, end = record.spans[i]
            shown = unicodedata.normalize("NFKC", text[start:end])
            assert shown == record.tokens[i].lstrip("▁"), (record.tokens[i], text[start:end])


@pytest.mark.parametrize("lang", VERBATIM)
def test_spans_show_exactly_the_token(tok, lang):
    text = MULTILINGUAL[lang]
    d = tok.tokenize_documents([text])[0]
    for i in np.flatnonzero(d.in_text):
        start, end = d.spans[i]
        assert text[start:end] == d.tokens[i].removeprefix("▁"), (d.tokens[i], start, end)


def test_spans_skip_the_whitespace_a_boundary_stands_for(tok):
    text = "  Hello\t\tWorld\nagain"
    d = tok.tokenize_documents([text])[0]
    shown = [text[s:e] for s, e in d.spans]
    assert shown[2:5] == ["Hello", "World", "again"]
    assert d.spans[2] == (2, 7)


def test_bare_word_boundary_piece_shows_no_character(tok):
    # Before CJK text the tokenizer emits a bare '▁' (id 6). At the start of the
    # text it is attributed to the first character; it must not highlight it.
    for text in ("柏林的人口", "Berlin 柏林"):
        d = tok.tokenize_documents([text])[0]
        bare = [i for i, t in enumerate(d.tokens) if t == "▁"]
        assert bare, text
        for i in bare:
            start, end = d.spans[i]
            assert start == end, (text, d.spans[i])
    d = tok.tokenize_documents(["柏林的人口"])[0]
    assert d.tokens[2:4] == ["▁", "柏林"]
    assert d.spans[3] == (0, 2)


def test_normalised_pieces_keep_the_original_characters(tok):
    # NFKC turns 'ﬁ' into 'fi' and '？' into '?': the span still points at the originals.
    text = "ﬁne？"
    d = tok.tokenize_documents([text])[0]
    shown = "".join(text[s:e] for s, e in (d.spans[i] for i in np.flatnonzero(d.in_text)))
    assert shown == text


# ---- truncation -----------------------------------------------------------------------


@pytest.mark.parametrize("maxlen", [4, 5, 10, 64])
def test_document_truncated_at_doc_maxlen(tok, raw, maxlen):
    text = " ".join(f"token{i}" for i in range(100))
    body = ref_ids(raw, text)
    d = tok.tokenize_documents([text], doc_maxlen=maxlen)[0]
    assert len(d) == maxlen
    assert d.ids.tolist() == [CLS, DOC_MARKER, *body[: maxlen - 3], SEP]
    assert d.tokens[-1] == "</s>"
    assert d.truncated and d.n_text_tokens == len(body)
    assert len(d.spans) == len(d.special) == len(d.skipped) == maxlen


def test_document_that_exactly_fits_is_not_truncated(tok, raw):
    text = "Berlin is the capital and largest city of Germany"
    k = len(ref_ids(raw, text))
    assert not tok.tokenize_documents([text], doc_maxlen=k + 3)[0].truncated
    assert len(tok.tokenize_documents([text], doc_maxlen=k + 3)[0]) == k + 3
    cut = tok.tokenize_documents([text], doc_maxlen=k + 2)[0]
    assert cut.truncated and len(cut) == k + 2


def test_default_doc_maxlen_is_the_settings_value(tok):
    assert tok.settings.doc_maxlen == 8192
    tok = variant(tok, doc_maxlen=12)
    text = " ".join(f"token{i}" for i in range(30))
    assert len(tok.tokenize_documents([text])[0]) == 12
    assert len(tok.tokenize_documents([text], doc_maxlen=20)[0]) == 20


@pytest.mark.parametrize("maxlen", [0, 3, -1])
def test_doc_maxlen_too_small_raises(tok, maxlen):
    with pytest.raises(ValueError, match="doc_maxlen"):
        tok.tokenize_documents(["Hello World"], doc_maxlen=maxlen)


def test_query_maxlen_too_small_raises(tok):
    with pytest.raises(ValueError, match="query_maxlen"):
        variant(tok, query_maxlen=3)
    assert len(variant(tok, query_maxlen=4).tokenize_queries(["Hello World"])[0]) == 4


def test_very_long_text_truncates_at_8192(tok):
    text = "Berlin population grows " * 8400  # ~200k characters, > 25k tokens
    assert len(text) > 200_000
    start = time.perf_counter()
    d = tok.tokenize_documents([text])[0]
    elapsed = time.perf_counter() - start
    assert len(d) == 8192 and d.truncated
    assert d.n_text_tokens > 8192
    assert d.ids[0] == CLS and d.ids[1] == DOC_MARKER and d.ids[-1] == SEP
    assert d.spans[-2][1] <= len(text)
    assert elapsed < 10


# ---- skiplists ------------------------------------------------------------------------


def test_reader_skiplist_skips_bare_punctuation(tokenizers_by_skiplist, raw):
    tok = tokenizers_by_skiplist["reader"]
    assert tok.skip_ids == {raw.token_to_id(s) for s in string.punctuation} - {None}
    assert {COMMA, PERIOD} <= tok.skip_ids
    assert WORD_BOUNDARY not in tok.skip_ids
    d = tok.tokenize_documents(["Hello, world."])[0]
    assert d.ids.tolist() == [CLS, DOC_MARKER, 35378, COMMA, 8999, PERIOD, SEP]
    assert np.flatnonzero(d.skipped).tolist() == [3, 5]
    assert d.scored.tolist() == [True, True, True, False, True, False, True]


def test_stanford_skiplist_uses_first_encoded_id(tokenizers_by_skiplist, raw):
    tok = tokenizers_by_skiplist["stanford"]
    expected = {raw.encode(s, add_special_tokens=False).ids[0] for s in string.punctuation}
    assert tok.skip_ids == expected
    assert WORD_BOUNDARY in tok.skip_ids
    assert COMMA not in tok.skip_ids and PERIOD not in tok.skip_ids
    # the two conventions share no id with this tokenizer
    assert not tok.skip_ids & tokenizers_by_skiplist["reader"].skip_ids
    d = tok.tokenize_documents(["Hello, world."])[0]
    assert not d.skipped.any()
    d = tok.tokenize_documents(["one . two"])[0]
    assert d.tokens[2:6] == ["▁one", "▁", ".", "▁two"]
    assert np.flatnonzero(d.skipped).tolist() == [3]
    d = tok.tokenize_documents(["Hello (world)!"])[0]
    skipped = {d.tokens[i] for i in np.flatnonzero(d.skipped)}
    assert skipped == {"▁("}


def test_none_skiplist_skips_nothing(tokenizers_by_skiplist):
    tok = tokenizers_by_skiplist["none"]
    assert tok.skip_ids == frozenset()
    d = tok.tokenize_documents(["Hello, world. (a) - b: c? 柏林"])[0]
    assert not d.skipped.any()


def test_skipped_matches_skip_ids_and_never_specials(tokenizers_by_skiplist):
    text = "!!! ... ,,, ??? (x) [y] {z} 'q' \"r\" a-b c:d 50% #1 ~ 柏林。"
    for name, tok in tokenizers_by_skiplist.items():
        d = tok.tokenize_documents([text])[0]
        expected = np.isin(d.ids, list(tok.skip_ids)) & d.in_text
        assert d.skipped.tolist() == expected.tolist(), name
        assert not (d.skipped & d.special).any() and not d.skipped[[0, 1, -1]].any(), name
        if name != "none":
            assert d.skipped.any(), name


def test_skiplist_ids_unknown_convention(raw):
    with pytest.raises(ValueError, match="unknown skiplist"):
        skiplist_ids(raw, "pylate")  # type: ignore[arg-type]


# ---- hostile text ---------------------------------------------------------------------


def test_clean_text_replaces_controls_keeping_length():
    text = "a\x00b\x07c\x1bd\te\nf\rg\x7f"
    cleaned = clean_text(text)
    assert cleaned == "a b c d\te\nf\rg "
    assert len(cleaned) == len(text)
    assert clean_text("plain text") == "plain text"
    assert clean_text("ab\ud800cd") == "ab\ufffdcd"


def test_control_characters_tokenize(tok):
    text = "Hello\x00World\x07again\x1b!"
    d = tok.tokenize_documents([text])[0]
    assert d.text == "Hello World again !"
    assert len(d.text) == len(text)
    shown = [d.text[s:e] for s, e in (d.spans[i] for i in np.flatnonzero(d.in_text))]
    assert shown[:3] == ["Hello", "World", "again"]
    q = tok.tokenize_queries([text])[0]
    assert len(q) == 32 and q.text == d.text


def test_lone_surrogate_is_handled(tok):
    d = tok.tokenize_documents(["ab\ud800cd"])[0]
    assert d.text == "ab\ufffdcd"
    assert d.ids[0] == CLS and d.ids[-1] == SEP and len(d) > 3
    q = tok.tokenize_queries(["\udfffBerlin"])[0]
    assert len(q) == 32


@pytest.mark.parametrize("bad", ["", "   ", " \n\t ", "\x00\x07"])
def test_empty_document_names_its_index(tok, bad):
    with pytest.raises(TextError, match=r"document 2 is empty or whitespace only"):
        tok.tokenize_documents(["one", "two", bad])


@pytest.mark.parametrize("bad", ["", "  \n "])
def test_empty_query_raises(tok, bad):
    with pytest.raises(TextError, match=r"^query is empty"):
        tok.tokenize_queries([bad])


def test_text_error_is_a_value_error():
    assert issubclass(TextError, ValueError)


@pytest.mark.parametrize("item", [3, None, b"bytes", ["nested"]])
def test_non_string_item_raises(tok, item):
    with pytest.raises(TextError, match=rf"document 1 is a {type(item).__name__}, not a string"):
        tok.tokenize_documents(["fine", item])
    with pytest.raises(TextError, match=r"^query is a"):
        tok.tokenize_queries([item])


def test_single_string_instead_of_list_raises(tok):
    with pytest.raises(TextError, match="single string"):
        tok.tokenize_documents("Hello World")
    with pytest.raises(TextError, match="single string"):
        tok.tokenize_queries("Hello World")


def test_over_max_chars_raises(tok):
    with pytest.raises(TextError, match=r"document 1 has 1,000,001 characters; the limit is 1,000,000"):
        tok.tokenize_documents(["ok", "x" * (MAX_CHARS + 1)])
    with pytest.raises(TextError, match="query has 11 characters; the limit is 10"):
        check_texts(["x" * 11], "query", max_chars=10)
    assert check_texts(["x" * 10], "query", max_chars=10) == ["x" * 10]


def test_empty_batches(tok):
    assert tok.tokenize_documents([]) == []
    assert tok.tokenize_queries([]) == []


def test_from_dir_without_tokenizer_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json"):
        ColbertTokenizer.from_dir(tmp_path, TokenizerSettings())


# ---- text that spells a special token ------------------------------------------------
# The model's own tokenizer (and Jina's code, Stanford ColBERT, PyLate, FastEmbed) parses a
# special token typed in a text as that token. The references below are the plain
# tokenizer's encoding with its defaults; the flags are checked against the strings typed.

SPECIAL_STRINGS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>", "[QueryMarker]", "[DocumentMarker]")
TYPED = {
    "de": "Die <s>Bevölkerung</s> Berlins wächst <mask> jedes Jahr um 0,7 Prozent.",
    "zh": "柏林<mask>是德国的首都</s>人口约三百八十万。",
    "ar": "ما هو <mask> عدد سكان برلين؟ [DocumentMarker] برلين هي عاصمة ألمانيا.",
    "ja": "ベルリン<s>の人口</s>は<unk>何人ですか？",
    "ru": "Какова [QueryMarker] численность <pad> населения Берлина?",
    "html": "<p>HTML <s>struck</s></p>",
    "html-mask": "<div class=\"q\"><mask> and <b>bold</b> <mask></div>",
    "code": 'if a<b and c</s>: return "<unk>"',
    "markers": "[QueryMarker] hi <mask> a [DocumentMarker] b <pad> <unk>",
}


def typed_count(text: str) -> int:
    """How many special tokens are spelled in ``text`` (none of them contains another)."""
    return sum(text.count(s) for s in SPECIAL_STRINGS)


def check_typed(record, raw: Tokenizer, text: str) -> None:
    """Flags, labels and spans of the text tokens against the plain tokenizer's encoding."""
    reference = raw.encode(text, add_special_tokens=False)
    text_positions = list(range(2, 2 + len(reference.ids)))
    assert record.tokens[2: 2 + len(reference.ids)] == reference.tokens
    expected = [token in SPECIAL_STRINGS for token in reference.tokens]
    assert record.typed_special[text_positions].tolist() == expected, record.tokens
    assert int(record.typed_special.sum()) == typed_count(text)
    for i in np.flatnonzero(record.typed_special):
        start, end = record.spans[i]
        assert text[start:end] == record.tokens[i], (record.tokens[i], start, end)
    # typed tokens are text: never placed specials, markers, expansion or skipped
    typed = record.typed_special
    assert not (typed & (record.special | record.marker | record.expansion | record.skipped)).any()
    assert record.in_text[typed].all()


@pytest.mark.parametrize("name", sorted(TYPED))
def test_typed_special_tokens_match_the_tokenizer(tok, raw, name):
    text = TYPED[name]
    assert typed_count(text) > 0
    d = tok.tokenize_documents([text])[0]
    assert d.ids.tolist() == expected_document(raw, text)
    check_typed(d, raw, text)
    q = tok.tokenize_queries([text])[0]
    assert q.ids.tolist() == expected_query(raw, text)
    assert len(q) == 32
    check_typed(q, raw, text)
    # the placed layout is unchanged: one marker at position 1, expansion only after </s>
    n = len(ref_ids(raw, text)) + 3
    assert np.flatnonzero(q.marker).tolist() == [1] and np.flatnonzero(d.marker).tolist() == [1]
    assert np.flatnonzero(q.special).tolist() == [0, 1, n - 1]
    assert np.flatnonzero(q.expansion).tolist() == list(range(n, 32))


def test_typed_special_tokens_examples(tok):
    d = tok.tokenize_documents(["HTML <s>struck</s> text"])[0]
    assert d.tokens[2:-1] == ["▁HTML", "▁", "<s>", "▁s", "truck", "</s>", "▁text"]
    assert d.ids[2:-1].tolist() == [19097, WORD_BOUNDARY, CLS, 91, 173964, SEP, 7986]
    assert np.flatnonzero(d.typed_special).tolist() == [4, 7]
    assert d.spans[4] == (5, 8) and d.spans[7] == (14, 18)
    d = tok.tokenize_documents(["a [DocumentMarker] b"])[0]
    assert d.tokens[2:-1] == ["▁a", "▁", "[DocumentMarker]", "▁b"]
    assert d.ids[2:-1].tolist() == [10, WORD_BOUNDARY, DOC_MARKER, 876]
    assert d.marker.tolist() == [False, True, False, False, False, False, False]
    d = tok.tokenize_documents(["<pad> <unk>"])[0]
    assert d.ids.tolist() == [CLS, DOC_MARKER, PAD, WORD_BOUNDARY, 3, SEP]
    assert d.typed_special.tolist() == [False, False, True, False, True, False]
    q = tok.tokenize_queries(["[QueryMarker] hi <mask>"])[0]
    assert q.ids[:7].tolist() == [CLS, QUERY_MARKER, QUERY_MARKER, 1274, WORD_BOUNDARY, MASK, SEP]
    assert np.flatnonzero(q.typed_special).tolist() == [2, 5]
    # the typed <mask> is not query expansion: 25 expansion tokens pad 7 to 32
    assert q.expansion.sum() == 25 and not q.expansion[:7].any()


def test_mask_that_strips_the_space_before_it(folder):
    """The real XLM-R tokenizer's <mask> has lstrip: '[QueryMarker] hi <mask>' gives
    250002, 1274, 250001 (model-facts.md); the span still covers just '<mask>'."""
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    raw.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    text = "[QueryMarker] hi <mask>"
    assert raw.encode(text, add_special_tokens=False).ids == [QUERY_MARKER, 1274, MASK]
    q = ColbertTokenizer(raw, TokenizerSettings()).tokenize_queries([text])[0]
    assert q.ids[:6].tolist() == [CLS, QUERY_MARKER, QUERY_MARKER, 1274, MASK, SEP]
    assert q.tokens[2:5] == ["[QueryMarker]", "▁hi", "<mask>"]
    assert q.typed_special[:6].tolist() == [False, False, True, False, True, False]
    assert [text[s:e] for s, e in q.spans[2:5]] == ["[QueryMarker]", "hi", "<mask>"]
    # a token that strips the spaces after it (rstrip) loses them from its span too
    raw.add_special_tokens([AddedToken("[DocumentMarker]", rstrip=True, special=True, normalized=False)])
    text = "a [DocumentMarker]   b"
    assert raw.encode(text, add_special_tokens=False).offsets[2] == (2, 21)
    d = ColbertTokenizer(raw, TokenizerSettings()).tokenize_documents([text])[0]
    assert d.typed_special.tolist() == [False, False, False, False, True, False, False]
    assert d.spans[4] == (2, 18)


def test_unknown_character_is_not_a_typed_special(tok, raw):
    text = "a 🧿 b <unk>"
    d = tok.tokenize_documents([text])[0]
    assert d.ids.tolist() == expected_document(raw, text)
    unknown = [i for i, token_id in enumerate(d.ids) if token_id == 3]
    assert len(unknown) == 2
    assert [d.typed_special[i] for i in unknown] == [False, True]
    assert text[slice(*d.spans[unknown[0]])] == "🧿"


def test_typed_specials_are_never_skipped(tokenizers_by_skiplist, raw):
    text = "<s>, (</s>) . <mask>! [DocumentMarker]?"
    for name, tok in tokenizers_by_skiplist.items():
        d = tok.tokenize_documents([text])[0]
        assert d.ids.tolist() == expected_document(raw, text), name
        assert d.typed_special.sum() == 4 and not (d.typed_special & d.skipped).any(), name
    # even a skiplist that holds the special ids leaves the typed ones scored
    tok = variant(tokenizers_by_skiplist["reader"])
    tok.skip_ids = tok.skip_ids | {CLS, SEP, MASK, DOC_MARKER}
    d = tok.tokenize_documents([text])[0]
    assert d.typed_special.sum() == 4 and d.scored[d.typed_special].all()
    assert d.skipped.any()


def test_typed_special_cut_by_truncation(tok, raw):
    text = "one two <s> three </s> four five six"
    body = ref_ids(raw, text)
    cut_at = body.index(CLS) + 1  # keeps the typed <s>, cuts before the typed </s>
    d = tok.tokenize_documents([text], doc_maxlen=cut_at + 3)[0]
    assert d.ids.tolist() == [CLS, DOC_MARKER, *body[:cut_at], SEP] and d.truncated
    assert np.flatnonzero(d.typed_special).tolist() == [cut_at + 1]
    assert not d.typed_special[-1]


def test_offline_wordpiece_parses_its_own_special_tokens():
    """all-MiniLM-L6-v2: [CLS], [SEP], [MASK] typed in a text are parsed as its tokenizer does."""
    from colbert_viz.engine.checkpoint import offline_model_dir, read_config
    from colbert_viz.engine.loading import tokenizer_settings

    folder = offline_model_dir()
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.no_padding()  # its file pads to 128; the text's own tokens are what we compare
    reference.no_truncation()
    tok = ColbertTokenizer.from_dir(folder, tokenizer_settings("offline", {}, read_config(folder), None))
    cls, sep = tok.cls_id, tok.sep_id
    for text in ("[CLS] Hello [MASK] world [SEP]", "a[SEP]b [PAD] ☃ [UNK]", "lower [cls] stays text"):
        encoding = reference.encode(text, add_special_tokens=False)
        for record in (tok.tokenize_documents([text])[0], tok.tokenize_queries([text])[0]):
            assert record.ids.tolist() == [cls, *encoding.ids, sep], text
            typed = [t in ("[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]") and text[slice(*o)] == t
                     for t, o in zip(encoding.tokens, encoding.offsets)]
            assert record.typed_special[1:-1].tolist() == typed, (text, record.tokens)
            assert not record.expansion.any() and not record.marker.any()
    d = tok.tokenize_documents(["[CLS] Hello [MASK] world [SEP]"])[0]
    assert d.tokens == ["[CLS]", "[CLS]", "hello", "[MASK]", "world", "[SEP]", "[SEP]"]
    assert d.typed_special.tolist() == [False, True, False, True, False, True, False]
    d = tok.tokenize_documents(["a ☃ [UNK]"])[0]
    assert d.tokens[2:4] == ["[UNK]", "[UNK]"] and d.typed_special[2:4].tolist() == [False, True]
    # a special token matched on the normalised (lower-cased) text is typed whatever its case
    reference.add_special_tokens([AddedToken("[Note]", normalized=True, special=True)])
    note = reference.token_to_id("[Note]")
    tok = ColbertTokenizer(reference, tok.settings)
    d = tok.tokenize_documents(["a [NOTE] b ☃"])[0]
    assert d.ids.tolist() == [cls, 1037, note, 1038, 100, sep]
    assert d.typed_special.tolist() == [False, False, True, False, False, False]
    assert d.spans[2] == (2, 8)
