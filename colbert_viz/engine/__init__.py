"""The engine: text → token vectors.

Tokenization (markers, query expansion, skiplist), the native backbone and its
forward passes, checkpoints and loading (dtype, device), the encoder and its
vector cache. torch and transformers live here and nowhere below.
"""

from __future__ import annotations
