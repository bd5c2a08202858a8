"""Bjøntegaard-style summaries of rate-accuracy curves.

Bjøntegaard's method (VCEG-M33) compares two rate-distortion curves by interpolating
each and averaging the gap over the range they share. Here the "distortion" axis is
task accuracy:

- ``bd_accuracy``: the average accuracy difference (test minus reference, in
  percentage points) over the common log-bpp range -- BD-PSNR with accuracy for PSNR;
- ``bd_rate``: the average bpp difference at equal accuracy (in percent of the
  reference's bpp; negative = fewer bits for the same accuracy) -- BD-rate.

The interpolation and integration come from the ``bjontegaard`` package (FAU-LMS,
the implementation of the JVET/JPEG-AI common test conditions' piecewise cubic
Hermite variant). A curve needs at least :data:`MIN_POINTS` qualities; BD-rate
also needs accuracy to rise strictly with bpp (it integrates log bpp as a function
of accuracy). Where a comparison cannot be made, the value is NaN and ``note`` says
why -- never a silent number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: Qualities a codec needs before its curves get a Bjøntegaard summary.
MIN_POINTS = 4
#: Interpolation: piecewise cubic Hermite (what JVET's and JPEG AI's CTC use).
METHOD = "pchip"
#: Columns of ``bd_summary.csv``.
BD_COLUMNS = [
    "comparison",
    "metric",
    "codec",
    "anchor",
    "reference",
    "points",
    "bpp_overlap",
    "bd_accuracy_pp",
    "bd_rate_percent",
    "note",
]


@dataclass
class Curve:
    """One rate-accuracy curve: bpp and accuracy (fraction 0..1), one point per quality."""

    bpp: list[float]
    accuracy: list[float]

    def sorted(self) -> Curve:
        pairs = sorted(
            (b, a)
            for b, a in zip(self.bpp, self.accuracy, strict=True)
            if _finite(b) and _finite(a)
        )
        return Curve([b for b, _ in pairs], [a for _, a in pairs])


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))


def _overlap(a: list[float], b: list[float]) -> float:
    """The shared part of two ranges, as a fraction of their union."""
    lo, hi = max(min(a), min(b)), min(max(a), max(b))
    span = max(max(a), max(b)) - min(min(a), min(b))
    return max(hi - lo, 0.0) / span if span > 0 else 0.0


def _quietly(function: Callable[..., Any], *args: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(function(*args, METHOD, require_matching_points=False, min_overlap=0))


def bd_accuracy(reference: Curve, test: Curve) -> tuple[float, str]:
    """Average accuracy gain of ``test`` over ``reference`` in percentage points over
    their common log-bpp range, and a note (empty when the value is valid)."""
    import bjontegaard

    ref, tst = reference.sorted(), test.sorted()
    problem = _check(ref, tst)
    if problem:
        return math.nan, problem
    if min(ref.bpp) <= 0 or min(tst.bpp) <= 0:
        return math.nan, "a bpp is not positive"
    if _overlap([math.log10(b) for b in ref.bpp], [math.log10(b) for b in tst.bpp]) == 0:
        return math.nan, "the curves share no bpp range"
    value = _quietly(bjontegaard.bd_psnr, ref.bpp, ref.accuracy, tst.bpp, tst.accuracy)
    return 100 * value, ""


def bd_rate(reference: Curve, test: Curve) -> tuple[float, str]:
    """Average bpp difference of ``test`` against ``reference`` at equal accuracy, in
    percent (negative: ``test`` needs fewer bits), and a note."""
    import bjontegaard

    ref, tst = reference.sorted(), test.sorted()
    problem = _check(ref, tst)
    if problem:
        return math.nan, problem
    for name, curve in (("reference", ref), ("test", tst)):
        if not _strictly_increasing(curve.accuracy):
            return math.nan, f"{name} accuracy does not rise strictly with bpp"
    if _overlap(ref.accuracy, tst.accuracy) == 0:
        return math.nan, "the curves share no accuracy range"
    return _quietly(bjontegaard.bd_rate, ref.bpp, ref.accuracy, tst.bpp, tst.accuracy), ""


def _check(ref: Curve, tst: Curve) -> str:
    for name, curve in (("reference", ref), ("test", tst)):
        if len(curve.bpp) < MIN_POINTS:
            return f"{name} has {len(curve.bpp)} points; Bjøntegaard needs {MIN_POINTS}"
        if not _strictly_increasing(curve.bpp):
            return f"{name} has two qualities at the same bpp"
    return ""


def _curves(results: pd.DataFrame) -> dict[tuple[str, str], dict[str, Curve]]:
    """{(codec label, anchor): {metric: Curve}} for the per-quality rows of results."""
    coded = results[results["quality"].notna()]
    out: dict[tuple[str, str], dict[str, Curve]] = {}
    for (codec, backend, anchor), group in coded.groupby(
        ["codec", "backend", "anchor"], sort=False
    ):
        group = group.sort_values("quality")
        out[(f"{codec}/{backend}", anchor)] = {
            metric: Curve(list(group["bpp"].astype(float)), list(group[metric].astype(float)))
            for metric in ("top1", "top5")
        }
    return out


def bd_summary(results: pd.DataFrame, reference_anchor: str = "anchor1") -> pd.DataFrame:
    """Every Bjøntegaard comparison a results table allows, as a DataFrame.

    - each anchor of a codec against ``reference_anchor`` of the same codec;
    - each other codec against the first codec (results order), anchor by anchor.

    Only codecs with at least :data:`MIN_POINTS` qualities take part.
    """
    import pandas as pd

    curves = _curves(results)
    codecs = list(dict.fromkeys(codec for codec, _ in curves))
    eligible = [
        c
        for c in codecs
        if any(
            len(v["top1"].sorted().bpp) >= MIN_POINTS for (cc, _), v in curves.items() if cc == c
        )
    ]
    rows = []

    def add(
        comparison: str,
        codec: str,
        anchor: str,
        reference: str,
        ref_curves: dict[str, Curve],
        test_curves: dict[str, Curve],
    ) -> None:
        for metric in ("top1", "top5"):
            ref, tst = ref_curves[metric], test_curves[metric]
            acc, note_acc = bd_accuracy(ref, tst)
            rate, note_rate = bd_rate(ref, tst)
            notes = [n for n in (note_acc, note_rate) if n]
            s_ref, s_tst = ref.sorted(), tst.sorted()
            overlap = _overlap(s_ref.bpp, s_tst.bpp) if s_ref.bpp and s_tst.bpp else math.nan
            rows.append(
                {
                    "comparison": comparison,
                    "metric": metric,
                    "codec": codec,
                    "anchor": anchor,
                    "reference": reference,
                    "points": f"{len(s_tst.bpp)} vs {len(s_ref.bpp)}",
                    "bpp_overlap": overlap,
                    "bd_accuracy_pp": acc,
                    "bd_rate_percent": rate,
                    "note": "; ".join(dict.fromkeys(notes)),
                }
            )

    for codec in eligible:
        reference = curves.get((codec, reference_anchor))
        if reference is None:
            continue
        for (c, anchor), mine in curves.items():
            if c == codec and anchor != reference_anchor:
                add(
                    "anchor vs " + reference_anchor,
                    codec,
                    anchor,
                    f"{reference_anchor} ({codec})",
                    reference,
                    mine,
                )
    if eligible:
        base = eligible[0]
        for codec in eligible[1:]:
            for (c, anchor), mine in curves.items():
                if c == codec and (base, anchor) in curves:
                    add(
                        "codec vs codec",
                        codec,
                        anchor,
                        f"{base} ({anchor})",
                        curves[(base, anchor)],
                        mine,
                    )
    return pd.DataFrame(rows, columns=BD_COLUMNS)
