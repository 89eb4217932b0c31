"""The page's "Compare encoders" panel: the query and documents in the boxes under encoder A
and encoder B (two models from the menu, or one model and its recipe changed for B).

Compare loads both models (``registry.get``: each once, outside the encode slots, as a Run
would), encodes both sides in one encode slot under the same limits as a Run
(``service.analyze_request``), keeps each side as a Run of the session (``RunStore``: its
memory budget) and shows ``colbert_viz.maths.encoders``: both rankings with rank moves and
Kendall tau, scores per query token and why the raw scores differ, the recipe differences,
each query word's matches in one document, and why A and B order a pair of documents as they
do. "Open A/B in the explorer" makes that side's Run the session's Run, as Run does, and shows it. Every text
shown is HTML-escaped here.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass

import gradio as gr

from colbert_viz.app.limits import LimitError
from colbert_viz.app.service import analyze_request, gather_documents, user_errors, user_message
from colbert_viz.app.ui_shared import payload_reply, session_of, status_html
from colbert_viz.engine.tokenization import SKIPLISTS
from colbert_viz.maths.encoders import (
    DocumentMatches,
    EncoderComparison,
    PairExplanation,
    compare_encoders,
    document_matches,
    explain_pair,
)

MODELS = "the model's"
EXPANSION = {MODELS: None, "on": True, "off": False}
ATTEND = {MODELS: None, "attended": True, "not attended": False}
SKIPLIST = (MODELS, *SKIPLISTS)
NATIVE = "native"
DIMENSIONS = (NATIVE, "128", "96", "64")
HELP = ("Encoder A and encoder B on the query and documents above: two models from the menu, or one model and B "
        "with its recipe changed. Each side is bounded like a Run; a model loads once and stays loaded.")


@dataclass
class ComparePanel:
    model_a: gr.Dropdown
    model_b: gr.Dropdown
    dim_a: gr.Dropdown
    dim_b: gr.Dropdown
    expansion: gr.Dropdown
    attend: gr.Dropdown
    skiplist: gr.Dropdown
    query_length: gr.Number
    button: gr.Button
    state: gr.State  # {"keys": [A's Run key, B's], "names": [...], "facts": [...]} of the last comparison
    summary: gr.HTML
    ranking: gr.HTML
    recipe: gr.HTML
    document: gr.Dropdown
    matches: gr.HTML
    first: gr.Dropdown
    second: gr.Dropdown
    pair: gr.HTML
    open_a: gr.Button
    open_b: gr.Button


def compare_panel(registry) -> ComparePanel:
    """The accordion (laid out where it is called)."""
    menu, default = registry.menu(), registry.labels()[registry.default]
    with gr.Accordion("Compare encoders: the same query and documents under two models or two recipes",
                      open=False, elem_id="encoders"):
        gr.Markdown(HELP, elem_classes="cv-small")
        with gr.Row():
            model_a = gr.Dropdown(menu, value=default, label="Encoder A", elem_id="encoder-a")
            dim_a = gr.Dropdown(list(DIMENSIONS), value=NATIVE, label="A: dimensions", elem_id="encoder-a-dim")
            model_b = gr.Dropdown(menu, value=default, label="Encoder B", elem_id="encoder-b")
            dim_b = gr.Dropdown(list(DIMENSIONS), value=NATIVE, label="B: dimensions", elem_id="encoder-b-dim")
        with gr.Row():
            expansion = gr.Dropdown(list(EXPANSION), value=MODELS, label="B: query expansion", elem_id="b-expansion")
            attend = gr.Dropdown(list(ATTEND), value=MODELS, label="B: expansion tokens", elem_id="b-attend")
            skiplist = gr.Dropdown(list(SKIPLIST), value=MODELS, label="B: skiplist", elem_id="b-skiplist")
            query_length = gr.Number(0, label="B: query tokens (0: the model's)", precision=0,
                                     elem_id="b-query-length")
        button = gr.Button("Compare encoders", elem_id="encoders-compare", size="sm")
        summary = gr.HTML("", elem_id="encoders-summary")
        with gr.Row():
            open_a = gr.Button("Open A in the explorer", elem_id="encoders-open-a", size="sm", visible=False)
            open_b = gr.Button("Open B in the explorer", elem_id="encoders-open-b", size="sm", visible=False)
        ranking = gr.HTML("", elem_id="encoders-ranking")
        recipe = gr.HTML("", elem_id="encoders-recipe")
        document = gr.Dropdown([], label="Matches in document", elem_id="encoders-document", visible=False)
        matches = gr.HTML("", elem_id="encoders-matches")
        with gr.Row():
            first = gr.Dropdown([], label="Why A and B order document", elem_id="encoders-first", visible=False)
            second = gr.Dropdown([], label="and document", elem_id="encoders-second", visible=False)
        pair = gr.HTML("", elem_id="encoders-pair")
    return ComparePanel(model_a=model_a, model_b=model_b, dim_a=dim_a, dim_b=dim_b, expansion=expansion, attend=attend, skiplist=skiplist,
                        query_length=query_length, button=button, state=gr.State(None), summary=summary,
                        ranking=ranking, recipe=recipe, document=document, matches=matches, first=first,
                        second=second, pair=pair, open_a=open_a, open_b=open_b)


# ---- the views: plain data in, escaped HTML out ---------------------------------------------------

def table(headers: list[str], rows: list[list], classes: list[str] | None = None, elem_class: str = "") -> str:
    """An HTML table; every cell escaped; ``classes``: one CSS class per row ("" for none)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        f'<tr class="{c}">' + "".join(f"<td>{html.escape(str(x))}</td>" for x in row) + "</tr>"
        for row, c in zip(rows, classes or [""] * len(rows)))
    return (f'<div class="cv-table-scroll"><table class="cv-table {elem_class}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div>')


def short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def iso(text: str) -> str:
    """``text`` between Unicode's first-strong isolate marks: right-to-left text (a document's, a token's)
    keeps its own order without reordering the numbers and brackets around it.

    >>> iso("برلين") == "\u2068برلين\u2069"
    True
    """
    return f"\u2068{text}\u2069"


def summary_html(c: EncoderComparison) -> str:
    tau = "–" if c.kendall_tau is None else f"{c.kendall_tau:.3f}"
    moved = int(max(abs(int(m)) for m in c.rank_moves))
    head = (f"A: {c.a.model} at {c.a.dim} dimensions. B: {c.b.model} at {c.b.dim} dimensions. "
            f"Kendall tau {tau}; largest rank move {moved}.")
    return f'<p class="cv-small">{html.escape(head)}</p><p class="cv-small">{html.escape(c.scale_note)}</p>'


def cut_html(a, b) -> str:
    """A line per side that cut documents to its length (``""`` when neither did): the sides read
    different texts then."""
    lines = []
    for side, analysis in (("A", a), ("B", b)):
        cut = [(i, d) for i, d in enumerate(analysis.documents) if d.truncated]
        if cut:
            which = ", ".join(f"document {i + 1} to {len(d)} tokens (of {d.n_text_tokens} in its text)"
                              for i, d in cut[:5])
            more = f" and {len(cut) - 5} more" if len(cut) > 5 else ""
            lines.append(f"{side} cut {which}{more}: it scores only what it read.")
    return "".join(f'<p class="cv-small">{html.escape(line)}</p>' for line in lines)


def dimension_choices(model) -> list[str]:
    """What the dimension menu offers for ``model``: ``native`` and its smaller sizes."""
    return [NATIVE, *(str(d) for d in model.dimensions[1:])]


def size_menu(model, value: str | None) -> gr.Dropdown:
    """A side's size menu for ``model``, keeping ``value`` where the model offers it."""
    choices = dimension_choices(model)
    return gr.Dropdown(choices=choices, value=value if value in choices else NATIVE)


def move(m: int) -> str:
    return "=" if m == 0 else (f"↑{m}" if m > 0 else f"↓{-m}")


def ranking_html(c: EncoderComparison) -> str:
    order = sorted(range(len(c.documents)), key=lambda i: int(c.a.ranks[i]))
    rows = [[i + 1, iso(short(c.documents[i])), int(c.a.ranks[i]), int(c.b.ranks[i]), move(int(c.rank_moves[i])),
             f"{c.a.scores[i]:.3f}", f"{c.b.scores[i]:.3f}", f"{c.a.per_token[i]:.4f}", f"{c.b.per_token[i]:.4f}"]
            for i in order]
    return table(["Doc", "Text", "Rank A", "Rank B", "Move (B)", "Score A", "Score B", "Per query token A",
                  "Per query token B"], rows, [("cv-moved" if int(c.rank_moves[i]) else "") for i in order],
                 "cv-encoders-ranking")


def recipe_html(c: EncoderComparison) -> str:
    if not c.recipe:
        return '<p class="cv-small">The recipes are the same.</p>'
    return table(["Recipe", "A", "B"], [[RECIPE_WORDS.get(k, k.replace("_", " ")), _shown(a), _shown(b)]
                                        for k, a, b in c.recipe], elem_class="cv-encoders-recipe")


# the recipe's keys (colbert_viz.engine.recipe.Recipe, as compare_encoders lists them) in words
RECIPE_WORDS = {"dim": "output dimension", "prefix_kind": "prefix kind", "expansion": "query expansion",
                "attend_expansion": "expansion attended", "skiplist_words": "skiplist", "skiplist_tasks": "skiplist on",
                "lowercase": "lower-cased", "dense": "projection", "subword": "sub-words"}


def _shown(value) -> str:
    """A recipe value in words: a list joined (``64→128, no bias`` not ``['64→128, no bias']``), none as –.

    >>> _shown(["a", "b"]), _shown(None), _shown([]), _shown(32)
    ('a; b', '–', '–', '32')
    """
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value)) or "–"
    return "–" if value is None else str(value)


def matches_html(m: DocumentMatches) -> str:
    """Per query word, what A and B matched in one document; disagreements marked."""

    def side(s) -> list:
        if s is None:
            return ["(none: the query was cut)", "", ""]
        where = "outside the text" if s.match_start is None else f"{iso(s.match_text)} at character {s.match_start}"
        return [" ".join(iso(t) for t in s.tokens), f"{iso(s.match)} ({where})", f"{s.contribution:.3f}"]

    rows = [[iso(w.word), *side(w.a), *side(w.b), "same word" if w.agree else "differ"] for w in m.words]
    words = table(["Query word", "A tokens", "A matched", "A adds", "B tokens", "B matched", "B adds", ""],
                  rows, ["" if w.agree else "cv-disagree" for w in m.words], "cv-encoders-matches")

    def extras(name: str, tokens) -> str:
        groups = Counter((x.kind, x.token, x.match) for x in tokens)
        adds = Counter()
        for x in tokens:
            adds[(x.kind, x.token, x.match)] += x.contribution
        parts = [f"{iso(token)} ×{n} → {iso(match)} ({adds[(kind, token, match)]:+.3f})"
                 for (kind, token, match), n in groups.items()]
        return f"{name}'s tokens outside the words: {'; '.join(parts) or 'none'}."

    note = f"{len(m.disagreements)} of {len(m.words)} query words matched different document words."
    return (f'<p class="cv-small">{html.escape(note)}</p>{words}<p class="cv-small">'
            f"{html.escape(extras('A', m.extra_a))}<br>{html.escape(extras('B', m.extra_b))}</p>")


def pair_html(p: PairExplanation) -> str:
    def gap(x: float | None) -> str:
        return "–" if x is None else f"{x:+.3f}"

    rows = [[iso(r.label), gap(r.gap_a), gap(r.gap_b)] for r in p.rows]
    rows.append(["total (score gap)", gap(p.gap_a), gap(p.gap_b)])
    head = [f"Row (document {p.first + 1} minus {p.second + 1})", "A", "B"]
    return f'<p class="cv-small">{html.escape(p.sentence)}</p>' + table(head, rows, elem_class="cv-encoders-pair")


def document_choices(c: EncoderComparison) -> list[tuple[str, int]]:
    return [(f"{i + 1}. {short(t, 50)}", i) for i, t in enumerate(c.documents)]


# ---- handlers --------------------------------------------------------------------------------------

def b_changes(expansion: str | None, attend: str | None, skiplist: str | None, query_length) -> dict:
    """The recipe changes the panel asks of B (``with_settings`` keywords)."""
    changes = {}
    if EXPANSION.get(expansion) is not None:
        changes["query_expansion"] = EXPANSION[expansion]
    if ATTEND.get(attend) is not None:
        changes["attend_to_mask_tokens"] = ATTEND[attend]
    if skiplist in SKIPLIST[1:]:
        changes["skiplist"] = skiplist
    if query_length:
        if float(query_length) != int(query_length) or int(query_length) < 4:
            raise LimitError(f"B's query tokens must be a whole number of at least 4 (0: the model's); "
                             f"got {query_length!r}.")
        changes["query_maxlen"] = int(query_length)
    return changes


def dimension(model, value: str | int | float | None, side: str) -> int:
    """The size side ``side`` is compared at: ``native`` (or ``None``) or one its model offers, as the
    menu's text or the API's number (``LimitError`` otherwise)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value in (None, "", NATIVE):
        return int(model.info.dim)
    if not str(value).isdigit() or int(value) not in model.dimensions:
        raise LimitError(f"Encoder {side} offers {', '.join(map(str, model.dimensions))} dimensions; got {value!r}.")
    return int(value)


def _model(ctx, label: str, side: str):
    model = ctx.registry.get(label)
    if getattr(model, "network", None) is None or model.info.dtype == "api":
        raise LimitError(f"Encoder {side}: Jina's API is compared in its own panel; choose a local model.")
    return model


def side_session(session: str | None, side: int) -> str:
    """The store's session for side ``side`` (0: A, 1: B) of ``session``'s comparison: the store
    keeps one Run per session, so each side is kept as its own, beside the session's Run."""
    return f"{session}/encoder-{'ab'[side]}"


def kept(ctx, state: dict | None, session) -> tuple:
    """The Analyses of A and B kept under ``state`` (``RunExpired`` when one was dropped)."""
    if state is None:
        raise LimitError("Compare the encoders first.")
    return tuple(ctx.store.get(k, side_session(session, side)).analysis for side, k in enumerate(state["keys"]))


def dims(state: dict) -> tuple[int, int]:
    return state["dims"][0], state["dims"][1]


def pair_of(a, b, first, second, dim_a: int, dim_b: int) -> PairExplanation:
    """``explain_pair`` of two documents chosen on the page (``LimitError`` when not two of them)."""
    first, second = index_of(a, first), index_of(a, second)
    if first == second:
        raise LimitError("Choose two different documents.")
    return explain_pair(a, b, first, second, dim_a, dim_b)


def index_of(analysis, value) -> int:
    """A document index the page sent (0-based); ``LimitError`` when it names none."""
    n = len(analysis.documents)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or not 0 <= value < n:
        raise LimitError(f"No document {value!r}: choose one of the {n} documents.")
    return int(value)


def on_compare(ctx, query: str, documents: str, files, label_a: str, label_b: str, dim_a: str, dim_b: str,
               expansion: str, attend: str, skiplist: str, query_length, doc_max, top_n, request: gr.Request,
               state_before: dict | None = None) -> dict:
    """Load A and B (no slot held), encode both in one encode slot, keep both Runs, show the comparison.
    A refused comparison leaves ``state_before``'s tables on the page and says so."""
    from colbert_viz.engine.encoder_compare import recipe_of, with_changes
    from colbert_viz.explorer.payload import model_facts

    c = ctx.page.compare
    session = session_of(request)
    try:
        docs = gather_documents(documents, files, ctx.limits)
        changes = b_changes(expansion, attend, skiplist, query_length)
        model_a = _model(ctx, label_a, "A")
        try:
            model_b = with_changes(_model(ctx, label_b, "B"), changes)
        except ValueError as err:
            raise LimitError(f"Encoder B: {err}.") from None
        sizes = [dimension(model_a, dim_a, "A"), dimension(model_b, dim_b, "B")]
        with ctx.slots.encoding():
            runs = [analyze_request(m, query, docs, doc_max, top_n, ctx.limits, model_name=label)
                    for m, label in ((model_a, label_a), (model_b, label_b))]
        state = {"keys": [ctx.store.put(r, side_session(session, side)) for side, r in enumerate(runs)], "labels": [label_a, label_b],
                 "dims": sizes, "names": [model_a.info.display_name, model_b.info.display_name],
                 "recipes": [recipe_of(model_a), recipe_of(model_b)],
                 "facts": [model_facts(model_a), model_facts(model_b)]}
        a, b = kept(ctx, state, session)
        result = compare_encoders(a, b, *sizes, recipes=tuple(state["recipes"]), models=tuple(state["names"]))
    except user_errors() as err:
        message = user_message(err)
        gr.Warning(html.escape(message))
        if state_before is not None:  # the last comparison stays, said to be the previous one
            message += " The tables below are the previous comparison's."
        return {c.summary: status_html(message, error=True)}
    order = [int(i) for i in sorted(range(len(docs)), key=lambda i: int(result.a.ranks[i]))]
    choices = document_choices(result)
    first, second = order[0], (order[1] if len(order) > 1 else None)
    pair = "" if second is None else pair_html(pair_of(a, b, first, second, *sizes))
    return {c.state: state, c.summary: summary_html(result) + cut_html(a, b), c.ranking: ranking_html(result),
            c.dim_a: size_menu(model_a, dim_a), c.dim_b: size_menu(model_b, dim_b),
            c.recipe: recipe_html(result), c.matches: matches_html(result.matches[first]),
            c.document: gr.Dropdown(choices=choices, value=first, visible=True),
            c.first: gr.Dropdown(choices=choices, value=first, visible=second is not None),
            c.second: gr.Dropdown(choices=choices, value=second, visible=second is not None),
            c.pair: pair, c.open_a: gr.Button(visible=True), c.open_b: gr.Button(visible=True)}


def on_document(ctx, state: dict | None, index, request: gr.Request) -> str:
    """The matches table of another document."""
    try:
        a, b = kept(ctx, state, session_of(request))
        i = index_of(a, index)
        dim_a, dim_b = dims(state)
        return matches_html(document_matches(i, a.explain(i, dim_a), b.explain(i, dim_b)))
    except user_errors() as err:
        return status_html(user_message(err), error=True)


def on_pair(ctx, state: dict | None, first, second, request: gr.Request) -> str:
    """Why A and B order the two chosen documents as they do."""
    try:
        return pair_html(pair_of(*kept(ctx, state, session_of(request)), first, second, *dims(state)))
    except user_errors() as err:
        return status_html(user_message(err), error=True)


def on_open(ctx, side: int, state: dict | None, request: gr.Request) -> dict:
    """Side ``side`` (0: A, 1: B) as the explorer's Run, with every view a Run has."""
    from colbert_viz.explorer.payload import run_payload

    p = ctx.page
    session = session_of(request)
    try:
        if state is None:
            raise LimitError("Compare the encoders first.")
        run = ctx.store.get(state["keys"][side], side_session(session, side))
        key = ctx.store.put(run, session)  # the session's Run now, as after Run
    except user_errors() as err:
        message = user_message(err)
        gr.Warning(html.escape(message))
        return {p.status: status_html(message, error=True)}
    facts = state["facts"][side]
    payload = run_payload(run.analysis, top_n=run.top_n, summary=run.summary(), display_name=run.display_name,
                          is_fallback=run.is_fallback, run_key=key, model=facts)
    dim = state["dims"][side]  # the size this side was compared at, its best documents first
    order = [int(i) for i in run.analysis.ranks(dim).argsort(kind="stable")]
    payload["opens_on"] = {"dim": dim, "doc": order[0], "a": order[0], "b": order[min(1, len(order) - 1)]}
    status = f"Encoder {'AB'[side]} in the explorer at {dim} dimensions: {run.summary()}"
    return {**payload_reply(ctx, key, payload, facts, state["labels"][side]), p.status: status_html(status)}


def wire_compare(ctx, concurrency_limit: int, on_shown) -> None:
    """The panel's events: Compare shares the encode slots' queue with Run; the views are quick."""
    p, c = ctx.page, ctx.page.compare

    def compare(query, documents, files, label_a, label_b, dim_a, dim_b, expansion, attend, skiplist, query_length,
                doc_max, top_n, state, request: gr.Request) -> dict:
        return on_compare(ctx, query, documents, files, label_a, label_b, dim_a, dim_b, expansion, attend, skiplist,
                          query_length, doc_max, top_n, request, state)

    def document(state, index, request: gr.Request) -> str:
        return on_document(ctx, state, index, request)

    def pair(state, first, second, request: gr.Request) -> str:
        return on_pair(ctx, state, first, second, request)

    def opener(side: int):
        def open_side(state, request: gr.Request) -> dict:
            return on_open(ctx, side, state, request)
        return open_side

    c.button.click(compare, [p.query, p.documents, p.files, c.model_a, c.model_b, c.dim_a, c.dim_b, c.expansion, c.attend, c.skiplist,
                             c.query_length, p.doc_max, p.top_n, c.state],
                   [c.state, c.summary, c.ranking, c.recipe, c.matches, c.document, c.first, c.second, c.pair,
                    c.open_a, c.open_b, c.dim_a, c.dim_b],
                   api_visibility="private", api_name="compare_encoders_panel",  # not the public /compare
                   concurrency_limit=concurrency_limit, concurrency_id="encode", show_progress_on=c.summary)
    def sizes(label: str):
        """The size menu for the model called ``label``: its own sizes once it is loaded."""
        model = ctx.registry.models.get(ctx.registry.resolve(label)) if label else None
        choices = dimension_choices(model) if hasattr(model, "dimensions") else list(DIMENSIONS)
        return gr.Dropdown(choices=choices, value=NATIVE)

    c.model_a.input(sizes, c.model_a, c.dim_a, api_visibility="private", queue=False)
    c.model_b.input(sizes, c.model_b, c.dim_b, api_visibility="private", queue=False)
    c.document.input(document, [c.state, c.document], c.matches, api_visibility="private", queue=False)
    for box in (c.first, c.second):
        box.input(pair, [c.state, c.first, c.second], c.pair, api_visibility="private", queue=False)
    outputs = [p.run_key, p.status, p.explorer, p.banner, p.exports, p.how_to_read, p.header, p.storage_help, p.stale]
    for side, button in enumerate((c.open_a, c.open_b)):
        button.click(opener(side), c.state, outputs, api_visibility="private", queue=False).success(
            on_shown, p.run_key, None, api_visibility="private", queue=False)
