"""Which view of a Run is on screen: the explorer's state as Python holds it.

The exports write it down and apply it (``colbert_viz.app.exports``), and a
standalone page or a notebook view opens on it (``ExplorerView``,
``colbert_viz.show(analysis, dimension=…, storage=…, document=…)``). The renderer
(``static/explorer.js``) holds the same fields under its own names
(``renderer_state``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from colbert_viz.checks import positive_int
from colbert_viz.explorer.tables import document_label
from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.scoring import ranking
from colbert_viz.storage.settings import EXACT, METHODS, merges_words


@dataclass(frozen=True)
class ViewState:
    """dim : the dimensions shown; storage : a ``colbert_viz.storage.settings`` method
    (``"float32"``: the exact vectors); document : the explained document
    (0-based, input order); merge_words, hide_expansion, hide_special : the
    toggles; a, b : the documents of "why A above B"."""

    dim: int
    document: int
    storage: str = EXACT
    merge_words: bool = False
    hide_expansion: bool = False
    hide_special: bool = False
    a: int = 0
    b: int = 0

    @classmethod
    def of(cls, analysis: Analysis, dim: object = None, document: object = None, storage: object = EXACT,
           merge_words: bool = False, hide_expansion: bool = False, hide_special: bool = False,
           a: object = None, b: object = None) -> ViewState:
        """A state ``analysis`` can show, checked (``ValueError`` naming what is
        wrong). ``None`` picks what the explorer opens on: the native size, the
        best document (exact, native size) and A, B the best two."""
        dims = analysis.dimensions
        dim = dims[0] if dim is None else positive_int(dim, "dimensions")
        if dim not in dims:
            raise ValueError(f"dimensions must be one of {', '.join(map(str, dims))}; got {dim}")
        if storage not in METHODS:
            raise ValueError(f"storage must be one of {', '.join(METHODS)}; got {storage!r}")
        order = [int(i) for i in ranking(analysis.scores(dims[0]))]
        n = len(order)
        return cls(dim=dim, storage=str(storage), merge_words=bool(merge_words),
                   document=order[0] if document is None else _index(document, n, "document"),
                   hide_expansion=bool(hide_expansion), hide_special=bool(hide_special),
                   a=order[0] if a is None else _index(a, n, "document A"),
                   b=order[min(1, n - 1)] if b is None else _index(b, n, "document B"))

    @classmethod
    def from_page(cls, analysis: Analysis, state: Mapping) -> ViewState:
        """The state the explorer sends with *Export current view* (its own names)."""
        return cls.of(analysis, dim=state.get("dim"), document=state.get("doc"), storage=state.get("storage", EXACT),
                      merge_words=bool(state.get("merge")), hide_expansion=bool(state.get("hideExpansion")),
                      hide_special=bool(state.get("hideSpecial")), a=state.get("a"), b=state.get("b"))

    @property
    def setting(self) -> str:
        """The storage setting id, e.g. ``"64/binary"``."""
        return f"{self.dim}/{self.storage}"

    @property
    def words(self) -> bool:
        """Whether the views show words: the merge toggle, except under pooling (the page disables it there)."""
        return self.merge_words and merges_words(self.storage)

    def renderer_state(self) -> dict:
        """The state under the renderer's names (``ColbertViz.mount(…, {initial})``)."""
        return {"dim": self.dim, "storage": self.storage, "doc": self.document, "a": self.a, "b": self.b,
                "merge": self.merge_words, "hideExpansion": self.hide_expansion, "hideSpecial": self.hide_special}

    def to_dict(self) -> dict:
        """JSON-ready, with the setting id and the document labels."""
        return {**asdict(self), "setting": self.setting, "document_label": document_label(self.document),
                "a_label": document_label(self.a), "b_label": document_label(self.b)}


def _index(value: object, n: int, what: str) -> int:
    """``value`` as a 0-based index below ``n``; ``ValueError`` naming ``what`` otherwise."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not whole or not 0 <= value < n:
        raise ValueError(f"no {what} {value!r}: choose 0 to {n - 1}")
    return int(value)
