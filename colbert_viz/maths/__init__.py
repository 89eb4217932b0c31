"""The MaxSim maths on token vectors (numpy only): similarities, scores and
rankings, Matryoshka cuts, per-token explanations, comparisons, and
``Analysis`` (one query and its documents, explored at any dimension).
"""

from __future__ import annotations
