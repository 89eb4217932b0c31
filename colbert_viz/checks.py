"""Argument checks shared by the package, the app and the CLI."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping


def positive_int(value: object, name: str) -> int:
    """``value`` as an ``int`` ≥ 1; ``ValueError`` naming ``name`` otherwise.

    Integral floats (``3.0``, what a number box sends) and numpy integers are
    accepted; ``bool``, non-integral numbers, strings and ``< 1`` are not.

    >>> positive_int(3.0, "top_n")
    3
    >>> positive_int(True, "top_n")
    Traceback (most recent call last):
    ...
    ValueError: top_n must be a positive integer, got True
    >>> positive_int(2.5, "max_docs")
    Traceback (most recent call last):
    ...
    ValueError: max_docs must be a positive integer, got 2.5
    """
    whole = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not whole or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_int_env(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """The positive integer in environment variable ``name`` (``default`` when
    unset or blank; ``_`` separators allowed); ``ValueError`` naming it otherwise.

    >>> positive_int_env("COLBERT_VIZ_MAX_DOCS", 64, {"COLBERT_VIZ_MAX_DOCS": "1_000"})
    1000
    >>> positive_int_env("COLBERT_VIZ_MAX_DOCS", 64, {"COLBERT_VIZ_MAX_DOCS": "many"})
    Traceback (most recent call last):
    ...
    ValueError: COLBERT_VIZ_MAX_DOCS must be a positive integer, got 'many'
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return positive_int(int(raw.replace("_", "")), name)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
