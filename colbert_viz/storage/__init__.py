"""Storage settings: what storing token vectors compactly does to a ranking.

``codecs`` has one function per codec (float16, Qdrant's int8 and binary,
Stanford ColBERT's residual codec, PyLate's token pooling); ``settings`` applies
a setting to a Run's vectors and scores it as that system does; ``analysis``
holds ``StoredAnalysis``, an ``Analysis`` under every setting, each computed
once and kept by its owner. Their public names are re-exported here:
``colbert_viz.storage.apply``, ``colbert_viz.storage.StoredAnalysis``.
"""

from __future__ import annotations

from colbert_viz.storage.analysis import StorageUnavailable, StoredAnalysis, as_stored
from colbert_viz.storage.settings import (
    EXACT,
    MAX_POOL_TOKENS,
    MAX_RESIDUAL_TOKENS,
    METHODS,
    OVERSAMPLING,
    QUANTIZED_QUERY,
    RESCORE_LIMIT,
    StorageLimitError,
    StorageSetting,
    StoredDocument,
    StoredRun,
    all_settings,
    apply,
    bytes_per_token,
    check_limits,
    compression_rows,
    explain_stored,
    merges_words,
    rescore_order,
)

__all__ = [
    "EXACT",
    "MAX_POOL_TOKENS",
    "MAX_RESIDUAL_TOKENS",
    "METHODS",
    "OVERSAMPLING",
    "QUANTIZED_QUERY",
    "RESCORE_LIMIT",
    "StorageLimitError",
    "StorageSetting",
    "StorageUnavailable",
    "StoredAnalysis",
    "StoredDocument",
    "StoredRun",
    "all_settings",
    "apply",
    "as_stored",
    "bytes_per_token",
    "check_limits",
    "compression_rows",
    "explain_stored",
    "merges_words",
    "rescore_order",
]
