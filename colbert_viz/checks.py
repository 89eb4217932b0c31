"""Argument checks shared by the package, the app and the CLI."""

from __future__ import annotations

import numbers


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
