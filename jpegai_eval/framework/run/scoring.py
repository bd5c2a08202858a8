"""Scoring a classifier's logits: Top-1 and Top-5, the same way for every path.

The task's PyTorch evaluation and the evaluator's ONNX Runtime evaluation both call
:func:`topk_from_logits`, so their numbers are comparable (ties broken by class index).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from numpy.typing import NDArray

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np


class Prediction(TypedDict):
    """One scored item: its position, label, predicted class, top 5, and the hits."""

    index: int
    label: int
    pred: int
    top5: list[int]
    correct1: bool
    correct5: bool


@dataclass
class EvalResult:
    """Top-1 / Top-5 as fractions in [0, 1], and one prediction row per item."""

    top1: float
    top5: float
    n: int
    predictions: list[Prediction]
    logits: NDArray[Any]


def topk_from_logits(logits: NDArray[Any], labels: Sequence[int]) -> EvalResult:
    """Top-1 / Top-5 and per-item predictions from a (N, classes) logit array.

    Use this on onnxruntime outputs too, so both paths score the same way.
    """
    logits = np.asarray(logits, dtype=np.float32)
    labels_arr = np.asarray(labels, dtype=np.int64)
    k = min(5, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    hit1 = top[:, 0] == labels_arr
    hit5 = (top == labels_arr[:, None]).any(axis=1)
    predictions = [
        Prediction(
            index=i,
            label=int(labels_arr[i]),
            pred=int(top[i, 0]),
            top5=[int(c) for c in top[i]],
            correct1=bool(hit1[i]),
            correct5=bool(hit5[i]),
        )
        for i in range(len(labels_arr))
    ]
    n = len(labels_arr)
    return EvalResult(
        top1=float(hit1.mean()) if n else math.nan,
        top5=float(hit5.mean()) if n else math.nan,
        n=n,
        predictions=predictions,
        logits=logits,
    )


def mean(values: Sequence[float | None]) -> float:
    """The mean of the finite values (None, NaN and inf are left out); NaN if none."""
    finite = [v for v in values if v is not None and not math.isnan(v) and not math.isinf(v)]
    return sum(finite) / len(finite) if finite else float("nan")
