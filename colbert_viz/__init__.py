"""colbert-viz: see late interaction. Rerank with jina-colbert-v2 and explain
every MaxSim score token by token.

>>> import colbert_viz                                    # doctest: +SKIP
>>> model = colbert_viz.load("jinaai/jina-colbert-v2")    # doctest: +SKIP
>>> model.rerank("What is the population of Berlin?", docs, top_n=3)  # doctest: +SKIP

The scoring and explaining modules import numpy only; ``load`` (torch,
transformers) and ``show`` (the explorer: ``colbert_viz.show(analysis)`` in a
notebook, ``.save(path)`` for a file) are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.compare import DimensionComparison, DocumentComparison, kendall_tau
from colbert_viz.maths.explain import Explanation, explain, merge
from colbert_viz.maths.scoring import maxsim, maxsim_scores, rerank_results, similarity_matrix, truncate_dims
from colbert_viz.records import Tokenized, TokenVectors

if TYPE_CHECKING:
    from colbert_viz.engine.api_compare import compare_api
    from colbert_viz.engine.checkpoint import ModelLoadError
    from colbert_viz.engine.encoder import ColbertModel, ModelInfo
    from colbert_viz.engine.encoder_compare import compare_encoders
    from colbert_viz.engine.loading import load
    from colbert_viz.explorer.html import show

__version__ = "0.1.0"

_LAZY = {
    "load": "colbert_viz.engine.loading",
    "ColbertModel": "colbert_viz.engine.encoder",
    "ModelInfo": "colbert_viz.engine.encoder",
    "ModelLoadError": "colbert_viz.engine.checkpoint",
    "show": "colbert_viz.explorer.html",
    "compare_api": "colbert_viz.engine.api_compare",
    "compare_encoders": "colbert_viz.engine.encoder_compare",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'colbert_viz' has no attribute {name!r}")


__all__ = [
    "Analysis",
    "ColbertModel",
    "DimensionComparison",
    "DocumentComparison",
    "Explanation",
    "ModelInfo",
    "ModelLoadError",
    "TokenVectors",
    "Tokenized",
    "__version__",
    "compare_api",
    "compare_encoders",
    "explain",
    "kendall_tau",
    "load",
    "maxsim",
    "maxsim_scores",
    "merge",
    "rerank_results",
    "show",
    "similarity_matrix",
    "truncate_dims",
]
