"""The fixed texts of the page (no user text here)."""

from __future__ import annotations

TITLE = "colbert-viz: see late interaction"
INTRO = ("Rerank documents with jina-colbert-v2 and see, token by token, why each one scored what it scored, "
         "at 128, 96 or 64 dimensions.")
DOCUMENTS_HELP = ("One document per line. If any line is blank, documents are separated by blank lines instead "
                  "(so a document can span several lines). Uploaded files are added after these.")
UPLOAD_HELP = (".txt: one document per line · .json: a list of strings or of objects with a \"text\" field · "
               ".jsonl: one per line · .csv: a \"text\" column (or the first column), header row first")
EXPORT_HELP = ("Export writes the ranking (CSV), the explanation of the selected document (JSON) and the whole "
               "interactive run as one HTML file that works offline. For a PNG of a chart, use the camera button in "
               "its toolbar.")
INT8_HELP = ("The int8 engine runs the model's linear layers with int8 weights (PyTorch dynamic quantization): "
             "faster on CPUs without bfloat16 units, approximately the same vectors. The button encodes the current "
             "Run's query and documents again with it, once, and compares the two rankings at the native size.")
OFFLINE_BANNER = ("**Offline model.** The page runs on all-MiniLM-L6-v2 token embeddings, a small stand-in that "
                  "ships with the app: **not jina-colbert-v2** (no ColBERT training, no markers, no query "
                  "expansion). Scores show the mechanics of late interaction only.")



def _names(tokens: list[str]) -> str:
    return " ".join(f"`{t}`" for t in tokens)


def how_to_read(facts: dict) -> str:
    """"How to read this", in the words of the model in use (``explorer.model_facts``):
    its dimensions, query length and score range, token names and sub-word convention."""
    n, native, dims = facts["query_tokens"], facts["native_dim"], facts["dimensions"]
    expansion, markers, specials = facts["expansion"], facts["markers"], facts["specials"]
    parts = [f"""**MaxSim (late interaction).** The query and each document are encoded separately, into one vector per
token ({native} numbers of length 1). Each query token finds the document token most similar to it (cosine): its *best
match*, outlined in red in the heatmap and in the text. The score is the sum of those best similarities. The
contribution bars show what each query token adds; they add up to the score in the ranking table."""]
    if expansion:
        parts.append(f"""**Query expansion.** This model pads every query to {n} tokens with {_names(expansion)} tokens and
attends to them: they act as learned soft query terms. Each one picks a best match and adds to the score like a word
does. Hide them with the checkbox to look at the words only (the contribution bars always show every query token, so
they add up).""")
    else:
        parts.append(f"""**No query expansion.** This model does not pad queries with mask tokens: this query has {n}
tokens, each scored.""")
    if markers or specials:
        marker_text = (f" {_names(markers)} follows the first token and tells the model which side it is encoding."
                       if markers else " This model has no query or document marker.")
        parts.append(f"""**Markers and special tokens.** {_names(specials)} wrap every text.{marker_text} They are vectors
like any other and are scored. Text that spells a special token (say `<s>` in HTML) is parsed as that token, as the
model's own tokenizer does; such tokens are flagged *typed* and drawn in orange.""")
    parts.append("""**Skiplist.** On the document side, bare punctuation pieces such as `,` `.` `?` `-` are not scored
(the "reader" convention, as in PyLate: each punctuation symbol looked up as a vocabulary token). They stay visible, in
grey.""")
    parts.append(f"""**Why scores go up to {n}.** {n} query vectors × a cosine of at most 1 each: a score lies between
−{n} and {n}. "Per query token" is the score divided by {n}: the average best similarity. Scores compare documents for
one query; they are not probabilities.""")
    if len(dims) > 1:
        parts.append(f"""**Dimensions.** {native} is the model's native output. {' and '.join(map(str, dims[1:]))} keep the
first numbers of every vector and re-normalise them (Matryoshka representation learning; jina-colbert-v2 reports
nDCG@10 averaged over 6 BEIR sets of 0.565 at 128, 0.558 at 96, 0.556 at 64). Switching re-uses the stored vectors;
nothing is encoded again. The comparison panel shows how the ranking moves (Kendall tau 1: the same order) and which
query tokens pick another best match.""")
    parts.append("""**Heatmap.** Rows are query tokens, columns document tokens; one colour scale is shared by all
documents of a run, so shades compare across documents. Documents of up to 256 tokens are drawn whole. Longer ones keep
3 tokens either side of every best match and fold each run in between into one column, "… N tokens", holding the
highest similarity of the run in each row; tick "Raw window" to scroll through any 256 consecutive tokens.""")
    if facts["subword"] == "wordpiece":
        mark = "`##` marks a piece that continues a word (WordPiece vocabulary)."
    else:
        mark = "`▁` marks the start of a word (SentencePiece vocabulary, as XLM-RoBERTa's)."
    parts.append(f"""**Sub-words.** {mark} "Merge sub-words" groups the pieces of a word: a word's cell is the highest
similarity of its pieces, a query word adds what its pieces add, and the score does not change.""")
    parts.append("""**What this does not show.** MaxSim decomposes the score exactly, but not how the encoder built
each vector: a token's vector depends on the whole text around it.""")
    return "\n\n".join(p.replace("\n", " ") for p in parts)


STORAGE_HELP = """
**Storing document vectors.** An index keeps one vector per document token, 512 bytes each at 128 dimensions in
float32. Each setting below stores them more compactly and scores the same query against what it stored; nothing is
re-encoded. The query stays exact unless the system encodes it too (Qdrant's int8 and binary do).

**float16** halves the bytes; scores move by about 10⁻⁴, far less than the gaps between documents.

**int8 (Qdrant scalar quantization).** One value range for the whole collection, taken from the 0.99 quantile of all
components, is cut into 128 steps and every component is stored as one byte (plus a 4-byte correction per vector).
Components outside the range are clipped: a model with a few large outlier components loses most there.

**binary (Qdrant binary quantization).** One bit per component: its sign. Two vectors are compared by how many bits
agree, (dims − 2 × differing bits) / dims, a coarse stand-in for the cosine. Qdrant reports it accurate for models
with about a thousand dimensions or more; at 128 or fewer it is coarse, so Qdrant recommends **rescoring**: take the best documents by the bits (the limit
times the oversampling factor), score those again with the original float vectors, and sort them by that. Rescoring
needs the originals kept (on disk), so it saves memory, not storage.

**residual (Stanford ColBERT / PLAID).** Tokens are clustered (k-means); each token is stored as the id of its nearest
centroid plus its difference from it, each component of that difference cut to 1, 2 or 4 bits. More bits, less error.
Here the centroids are trained on this Run's few documents, so each centroid holds a handful of tokens and the error
is smaller than in a real index trained on a whole corpus.

**pooling (PyLate).** Tokens of one document whose vectors are close (hierarchical clustering) are merged into their
mean, keeping 1/2 or 1/3 as many vectors; the first token stays alone. Repeated or near-synonymous tokens merge
first; the merged vector is labelled with its tokens (Berlin+population). A query token that matched one of them
now matches the average, usually a little lower.

**Reading the table.** Bytes per token and per document (the mean over documents; punctuation on the skiplist is not
stored). Kendall tau compares the setting's ranking with exact float32 at the native size: 1 is the same order,
lower means pairs of documents swapped. The largest rank change and largest score change are over all documents.
Cutting dimensions and compressing combine: every setting is shown at every size.
"""
