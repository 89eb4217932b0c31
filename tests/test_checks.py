"""The one positive-integer check, and where it is used."""

from __future__ import annotations

import numpy as np
import pytest

from colbert_viz.app.limits import LimitError, Limits, check_top_n
from colbert_viz.checks import positive_int
from colbert_viz.maths.scoring import rerank_results


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (64, 64), (3.0, 3), (np.int64(7), 7), (np.float32(2), 2)])
def test_positive_int_accepts(value, expected):
    assert positive_int(value, "n") == expected and type(positive_int(value, "n")) is int


@pytest.mark.parametrize("value", [0, -1, True, False, 2.5, float("nan"), float("inf"), "3", None, [1]])
def test_positive_int_refuses_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"^max_files must be a positive integer, got "):
        positive_int(value, "max_files")


def test_limits_and_scoring_use_it():
    with pytest.raises(ValueError, match="max_upload_mb must be a positive integer, got 0"):
        Limits(max_upload_mb=0)
    with pytest.raises(ValueError, match="COLBERT_VIZ_MAX_FILES must be a positive integer"):
        Limits.from_env({"COLBERT_VIZ_MAX_FILES": "-2"})
    assert Limits.from_env({"COLBERT_VIZ_MAX_UPLOAD_MB": "64"}).max_upload_bytes == 64 * 2**20
    with pytest.raises(ValueError, match=r"top_n must be a positive integer, got 1\.5"):
        rerank_results(np.array([1.0, 2.0]), ["a", "b"], 1.5)
    assert check_top_n(2.0, 5) == 2 and check_top_n(0, 5) is None
    with pytest.raises(LimitError, match="top_n must be a positive whole number"):
        check_top_n(-3, 5)
