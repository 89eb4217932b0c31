"""The fixed texts of the page (no user text here)."""

from __future__ import annotations

import html

TITLE = "colbert-viz: see late interaction"
DOCUMENTS_HELP = ("One document per line. If any line is blank, documents are separated by blank lines instead "
                  "(so a document can span several lines). Uploaded files are added after these.")
UPLOAD_HELP = (".txt: one document per line · .json: a list of strings or of objects with a \"text\" field · "
               ".jsonl: one per line · .csv: a \"text\" column (or the first column), header row first")
EXPORT_HELP = ("Export writes the ranking (CSV), the explanation of the selected document (JSON) and the whole "
               "interactive run as one HTML file that works offline. For a PNG of a chart, use the camera button in "
               "its toolbar.")
INT8_HELP = ("The int8 engine runs the model's linear layers with int8 weights (PyTorch dynamic quantization): "
             "faster on CPUs without bfloat16 units, approximately the same vectors. Its button encodes the current "
             "Run's query and documents again with it, once, and compares the two rankings at the native size.")
FLOAT32_HELP = ("Exact float32 is the reference the other engines approximate: where the Run's model runs in "
                "bfloat16 (chosen by auto, or asked for) or int8, the float32 button encodes the Run's query and "
                "documents again in float32, once, and shows how far the Run's ranking is from the exact one at the "
                "native size. Where the model already runs in float32, there is nothing to compare: the page says so.")

STALE_NOTE = ("**Previous Run.** The last Run failed (see the message above): the explorer below still shows the "
              "Run before it, for its own query and documents.")
OFFLINE_BANNER = ("**Offline model.** The page runs on all-MiniLM-L6-v2 token embeddings, a small stand-in that "
                  "ships with the app: **not jina-colbert-v2** (no ColBERT training, no markers, no query "
                  "expansion). Scores show the mechanics of late interaction only.")



def _names(tokens: list[str]) -> str:
    return " ".join(f"`{t}`" for t in tokens)


def _sizes(dims: list[int]) -> str:
    """The dimensions in words.

    >>> _sizes([384, 128, 96, 64])
    '384, 128, 96 or 64'
    """
    dims = [str(d) for d in dims]
    return dims[0] if len(dims) == 1 else f"{', '.join(dims[:-1])} or {dims[-1]}"


def intro(facts: dict) -> str:
    """The line under the title, for the model in use (``explorer.model_facts``)."""
    name = facts.get("display_name") or "jina-colbert-v2"
    return (f"Rerank documents with {name} and see, token by token, why each one scored what it scored, "
            f"at {_sizes(facts['dimensions'])} dimensions.")


def dimension_note(facts: dict) -> str:
    """One line under the dimension control, for the model in use."""
    native, others = facts["native_dim"], facts["dimensions"][1:]
    if facts["dimensions"][0] != native:  # a search's hits: the sizes the collection stores, from the one searched
        sizes = " and ".join(map(str, facts["dimensions"]))
        return (f"{sizes} dimensions: the stored vectors of the size searched and smaller ({native} is the model's "
                "native size; search at it to see it). Every view follows, without encoding again.")
    if not others:
        return f"{native} dimensions."
    how = {True: " (Matryoshka)", False: " (this model was not trained for it)"}.get(facts["matryoshka"], "")
    return (f"{native} is native; {' and '.join(map(str, others))} keep the first dimensions, re-normalised"
            f"{how}. Every view follows, without encoding again.")


def _model_paragraph(facts: dict) -> str:
    native, n = facts["native_dim"], facts["query_tokens"]
    name = facts.get("display_name") or "The model"
    if facts["is_fallback"]:
        return (f"**The model.** {name}: the token embeddings of a small sentence-embedding model, one vector "
                f"per token. It is not a ColBERT model: no ColBERT training, no query or "
                f"document marker, no query expansion, no Matryoshka training. Its vectors have {native} numbers; "
                f"its special tokens are {_names(facts['specials'])}; a query keeps at most {n} tokens. The scores "
                "show the mechanics of late interaction, not jina-colbert-v2's judgement.")
    dims = f"{native} numbers per token"
    if facts["matryoshka"]:
        dims += f", trained to be cut to {' and '.join(map(str, facts['dimensions'][1:]))} (Matryoshka)"
    floor = facts.get("expansion_floor")
    if facts["expansion"] and floor:
        query = f"queries padded to at least {floor} tokens with {_names(facts['expansion'])} (longer ones keep up to {n})"
    elif facts["expansion"]:
        query = f"queries padded to exactly {n} tokens with {_names(facts['expansion'])}"
    else:
        query = f"queries of at most {n} tokens, not padded"
    return f"**The model.** {name}: {dims}; {query}; special tokens {_names(facts['specials'])}."


def how_to_read(facts: dict) -> str:
    """"How to read this", in the words of the model in use (``explorer.model_facts``:
    read off its configuration, never off one Run's tokens): its dimensions and
    whether the smaller ones were trained, query length, expansion and score
    range, token names and sub-word convention."""
    n, native, dims = facts["query_tokens"], facts["native_dim"], facts["dimensions"]
    expansion, markers, specials = facts["expansion"], facts["markers"], facts["specials"]
    parts = [_model_paragraph(facts)]
    parts.append(f"""**MaxSim (late interaction).** The query and each document are encoded separately, into one vector per
token ({native} numbers of length 1). Each query token finds the document token most similar to it (cosine): its *best
match*, outlined in red in the heatmap and in the text. The score is the sum of those best similarities. The
contribution bars show what each query token adds; they add up to the score in the ranking table.""")
    floor = facts.get("expansion_floor")
    attend = ("and attends to them" if facts.get("attend_expansion") is not False else
              "(the other tokens do not attend to them, but each still gets a vector)")
    if expansion and floor:
        parts.append(f"""**Query expansion.** This model pads a query shorter than {floor} tokens to {floor} with
{_names(expansion)} tokens {attend}: they act as learned soft query terms. Each one picks a best match and adds to the
score like a word does. A longer query keeps its own tokens, up to {n}, and gets no expansion token. Hide them with the
checkbox to look at the words only (the contribution bars always show every query token, so they add up).""")
    elif expansion:
        parts.append(f"""**Query expansion.** This model pads every query to {n} tokens with {_names(expansion)} tokens
{attend}: they act as learned soft query terms. Each one picks a best match and adds to the score like a word
does. A query with more tokens is cut to {n} (the page says how many were dropped) and gets no expansion token. Hide
them with the checkbox to look at the words only (the contribution bars always show every query token, so they add
up).""")
    else:
        parts.append(f"""**No query expansion.** This model does not pad queries: a query keeps its own tokens, at most
{n} (a longer one is cut, and the page says how many were dropped), and each is scored.""")
    if markers:
        marker_text = (f" {_names(markers)} follow{'s' if len(markers) == 1 else ''} the first token and tell"
                       f"{'s' if len(markers) == 1 else ''} the model which side (query or document) it is encoding.")
    else:
        marker_text = " This model has no query or document marker."
    parts.append(f"""**Markers and special tokens.** {_names(specials)} wrap every text.{marker_text} They are vectors
like any other and are scored. Text that spells a special token (say `{specials[0]}` typed in the text) is parsed as
that token, as the model's own tokenizer does; such tokens are flagged *typed* and drawn in orange.""")
    recipe = dict(map(tuple, facts.get("recipe") or []))
    if recipe.get("format") in ("pylate", "sentence-transformers", "stanford"):
        parts.append(f"""**Skiplist.** This model's recipe names its skiplist ({_cell(recipe.get("skiplist", ""))}): those
tokens, looked up in the vocabulary, are not scored on the document side. They stay visible, in grey.""")
    else:
        parts.append("""**Skiplist.** On the document side, bare punctuation pieces such as `,` `.` `?` `-` are not scored
(the "reader" convention, as in PyLate: each punctuation symbol looked up as a vocabulary token). They stay visible, in
grey.""")
    if expansion and floor:
        parts.append(f"""**Score range.** A query has at least {floor} tokens (its own, padded) and at most {n}:
k vectors × a cosine of at most 1 each, so a score lies between −k and k. "Per query token" is the score divided by k:
the average best similarity. Scores compare documents for one query; they are not probabilities.""")
    elif expansion:
        parts.append(f"""**Why scores go up to {n}.** {n} query vectors × a cosine of at most 1 each: a score lies between
−{n} and {n}. "Per query token" is the score divided by {n}: the average best similarity. Scores compare documents for
one query; they are not probabilities.""")
    else:
        parts.append(f"""**Score range.** A query of k tokens (here at most {n}) has k vectors × a cosine of at most 1
each: a score lies between −k and k. "Per query token" is the score divided by k: the average best similarity. Scores
compare documents for one query; they are not probabilities.""")
    if len(dims) > 1:
        cut = f"{' and '.join(map(str, dims[1:]))} keep the first numbers of every vector and re-normalise them"
        if facts["matryoshka"]:
            how = f"""{cut} (Matryoshka representation learning; jina-colbert-v2 reports nDCG@10 averaged over 6 BEIR
sets of 0.565 at 128, 0.558 at 96, 0.556 at 64)."""
        elif facts["matryoshka"] is False:
            how = f"""{cut}. This model was not trained for that (no Matryoshka training): the smaller sizes are plain
cuts of its {native} numbers, so expect the ranking to move more than a Matryoshka-trained model's would."""
        else:
            how = f"{cut}."
        parts.append(f"""**Dimensions.** {native} is the model's native output. {how} Switching re-uses the stored
vectors; nothing is encoded again. The comparison panel shows how the ranking moves (Kendall tau 1: the same order) and
which query tokens pick another best match.""")
    parts.append("""**Heatmap.** Rows are query tokens, columns document tokens; one colour scale is shared by all
documents of a run, so shades compare across documents. Documents of up to 256 tokens are drawn whole. Longer ones keep
3 tokens either side of every best match and fold each run in between into one column, "… N tokens", holding the
highest similarity of the run in each row; tick "Raw window" to scroll through any 256 consecutive tokens.""")
    if facts["subword"] == "wordpiece":
        mark = "`##` marks a piece that continues a word (WordPiece vocabulary)."
    else:
        mark = ("`▁` marks the start of a word (SentencePiece vocabulary, as XLM-RoBERTa's); a bare `▁` piece "
                "stands for a space and is shown as one.")
    parts.append(f"""**Sub-words.** {mark} "Merge sub-words" groups the pieces of a word: a word's cell is the highest
similarity of its pieces, a query word adds what its pieces add, and the score does not change.""")
    parts.append("""**What this does not show.** MaxSim decomposes the score exactly, but not how the encoder built
each vector: a token's vector depends on the whole text around it.""")
    text = "\n\n".join(p.replace("\n", " ") for p in parts)
    if facts.get("recipe"):
        rows = "\n".join(f"| {_cell(k)} | {_cell(v)} |" for k, v in facts["recipe"])
        text += ("\n\n**This model's recipe**, read from its files (`python -m colbert_viz recipe --model …` prints "
                 f"it):\n\n| setting | value |\n|---|---|\n{rows}")
    return text


def _cell(value: str) -> str:
    r"""A table cell's text, escaped (it comes from a checkpoint's files).

    >>> _cell("a|b <c>")
    'a\\|b &lt;c&gt;'
    """
    return html.escape(str(value), quote=False).replace("|", "\\|")


def storage_help(facts: dict) -> str:
    """"Storage and compression: what the settings do", at the model's native size."""
    native = facts["native_dim"]
    return STORAGE_HELP.replace("{bytes}", f"{4 * native:,}").replace("{native}", str(native))


STORAGE_HELP = """
**Storing document vectors.** An index keeps one vector per document token, {bytes} bytes each at {native} dimensions in
float32. Each setting below stores them more compactly and scores the same query against what it stored; nothing is
re-encoded. The query stays exact unless the system encodes it too (Qdrant's int8 and binary do).

**float16** halves the bytes; scores move by about 10⁻⁴, far less than the gaps between documents.

**int8 (Qdrant v1.19 scalar quantization).** One value range for all the collection's token vectors is cut into 128
steps and every component is stored as one byte (plus a 4-byte correction per vector). At quantile 0.99 Qdrant drops
about (vectors × 0.005) values at each end of the sorted components, a count of vectors applied to values, so on a
small collection the range is nearly the plain min and max; below 127 vectors it is exactly that.

**binary (Qdrant v1.19 binary quantization).** One bit per component: its sign, in bytes Qdrant pads to whole 4-, 8- or
16-byte chunks. Two vectors are compared by how many bits agree, (dims − 2 × differing bits) / dims, a coarse
stand-in for the cosine. Qdrant reports it accurate for models
with about a thousand dimensions or more; at {native} or fewer it is coarse, so Qdrant recommends **rescoring**: take the best documents by the bits (the whole part of
the limit times the oversampling factor), score those again with the original float vectors, and sort them by that. Rescoring
needs the originals kept (on disk), so it saves memory, not storage.

**residual (Stanford ColBERT / PLAID, colbert-ai 0.2.22).** Tokens are clustered (k-means); each token is stored as
the id of its nearest centroid plus its difference from it, each component of that difference cut to 1, 2 or 4 bits
at cutoffs taken from a 5 % sample of tokens held out of k-means. More bits, less error.
Here the centroids are trained on this Run's few documents, so each centroid holds a handful of tokens and the error
is smaller than in a real index trained on a whole corpus.

**pooling (PyLate 1.6.0).** Tokens of one document whose vectors are close (Ward clustering) are merged into their
mean, keeping 1/2 or 1/3 as many vectors; the first token stays alone. Repeated or near-synonymous tokens merge
first; the merged vector is labelled with its tokens (Berlin+population). A query token that matched one of them
now matches the average, usually a little lower.

**Reading the table.** Bytes per token and per document (the mean over documents; punctuation on the skiplist is not
stored). Kendall tau compares the setting's ranking with exact float32 at the native size: 1 is the same order,
lower means pairs of documents swapped. The largest rank change and largest score change are over all documents.
Cutting dimensions and compressing combine: every setting is shown at every size.
"""
