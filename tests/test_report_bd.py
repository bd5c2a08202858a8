"""Bjøntegaard summaries: checked against exact answers and an independent PCHIP."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jpegai_eval.reports import bd
from jpegai_eval.reports.bd import Curve, bd_accuracy, bd_rate, bd_summary

# The worked example published with the `bjontegaard` package (libx265 presets).
RATE_ANCHOR = [9487.76, 4593.60, 2486.44, 1358.24]
PSNR_ANCHOR = [40.037, 38.615, 36.845, 34.851]
RATE_TEST = [9787.80, 4469.00, 2451.52, 1356.24]
PSNR_TEST = [40.121, 38.651, 36.970, 34.987]


# --------------------------------------------------- an independent PCHIP + integration


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes with the three-point end rule (as in the JCT-VC sheet)."""
    h = np.diff(x)
    m = np.diff(y) / h
    d = np.zeros_like(y)
    for k in range(1, len(x) - 1):
        if m[k - 1] * m[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])

    def end(h0, h1, m0, m1):
        value = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(value) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(value) > 3 * abs(m0):
            return 3 * m0
        return value

    d[0] = end(h[0], h[1], m[0], m[1])
    d[-1] = end(h[-1], h[-2], m[-1], m[-2])
    return d


def _pchip_eval(x, y, t):
    x, y = np.asarray(x, float), np.asarray(y, float)
    d = _pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, t) - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    s = (t - x[k]) / h
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]


def _mean_over(x, y, lo, hi, n=200001):
    t = np.linspace(lo, hi, n)
    v = _pchip_eval(x, y, t)
    return float(np.sum((v[1:] + v[:-1]) / 2 * np.diff(t)) / (hi - lo))


def _independent_bd(base_ref, val_ref, base_test, val_test):
    order_r, order_t = np.argsort(base_ref), np.argsort(base_test)
    br, vr = np.asarray(base_ref)[order_r], np.asarray(val_ref)[order_r]
    bt, vt = np.asarray(base_test)[order_t], np.asarray(val_test)[order_t]
    lo, hi = max(br[0], bt[0]), min(br[-1], bt[-1])
    return _mean_over(bt, vt, lo, hi) - _mean_over(br, vr, lo, hi)


def test_bd_rate_matches_an_independent_pchip_on_the_published_example():
    # PSNR plays accuracy's part: bd_rate only sees "a metric rising with rate".
    ref = Curve(RATE_ANCHOR, [p / 100 for p in PSNR_ANCHOR])
    test = Curve(RATE_TEST, [p / 100 for p in PSNR_TEST])
    value, note = bd_rate(ref, test)
    expected_log = _independent_bd(
        np.array(PSNR_ANCHOR) / 100,
        np.log10(RATE_ANCHOR),
        np.array(PSNR_TEST) / 100,
        np.log10(RATE_TEST),
    )
    assert note == ""
    assert value == pytest.approx((10**expected_log - 1) * 100, abs=1e-6)
    assert -10 < value < 0  # the test encoder saves a few percent here


def test_bd_accuracy_matches_an_independent_pchip_on_the_published_example():
    ref = Curve(RATE_ANCHOR, [p / 100 for p in PSNR_ANCHOR])
    test = Curve(RATE_TEST, [p / 100 for p in PSNR_TEST])
    value, note = bd_accuracy(ref, test)
    expected = 100 * _independent_bd(
        np.log10(RATE_ANCHOR),
        np.array(PSNR_ANCHOR) / 100,
        np.log10(RATE_TEST),
        np.array(PSNR_TEST) / 100,
    )
    assert note == "" and value == pytest.approx(expected, abs=1e-6)
    assert value > 0


def test_exact_answers_for_shifted_and_scaled_curves():
    bpp = [0.1, 0.2, 0.4, 0.8, 1.6]
    acc = [0.40, 0.55, 0.63, 0.70, 0.74]
    ref = Curve(bpp, acc)
    # Same rates, accuracy 3 points higher everywhere: BD-accuracy is exactly +3.
    assert bd_accuracy(ref, Curve(bpp, [a + 0.03 for a in acc]))[0] == pytest.approx(3.0)
    # Same accuracies at 80 % of the bits: BD-rate is exactly -20 %.
    assert bd_rate(ref, Curve([b * 0.8 for b in bpp], acc))[0] == pytest.approx(-20.0)
    # Identical curves: zero; point order does not matter.
    assert bd_accuracy(ref, Curve(bpp[::-1], acc[::-1]))[0] == pytest.approx(0.0, abs=1e-12)


def test_comparisons_that_cannot_be_made_are_nan_with_a_reason():
    three = Curve([0.1, 0.2, 0.4], [0.4, 0.5, 0.6])
    four = Curve([0.1, 0.2, 0.4, 0.8], [0.4, 0.5, 0.6, 0.7])
    value, note = bd_accuracy(three, four)
    assert math.isnan(value) and "needs 4" in note
    bumpy = Curve([0.1, 0.2, 0.4, 0.8], [0.4, 0.6, 0.5, 0.7])
    value, note = bd_rate(four, bumpy)
    assert math.isnan(value) and "does not rise strictly" in note
    assert not math.isnan(bd_accuracy(four, bumpy)[0])  # BD-accuracy still works
    far = Curve([10, 20, 40, 80], [0.4, 0.5, 0.6, 0.7])
    value, note = bd_accuracy(four, far)
    assert math.isnan(value) and "share no bpp" in note


def _results(codecs: dict[str, int]) -> pd.DataFrame:
    """A results table: anchor3 once; anchor1/anchor2 per codec x quality."""
    rows = [
        {
            "codec": "original",
            "backend": "",
            "quality": math.nan,
            "anchor": "anchor3",
            "bpp": math.nan,
            "top1": 0.8,
            "top5": 0.95,
        }
    ]
    for ci, (codec, n) in enumerate(codecs.items()):
        for q in range(1, n + 1):
            bpp = 0.1 * 2 ** (q - 1) * (1 + ci)
            for anchor, gain in (("anchor1", 0.0), ("anchor2", 0.05)):
                rows.append(
                    {
                        "codec": codec,
                        "backend": "pillow",
                        "quality": float(q),
                        "anchor": anchor,
                        "bpp": bpp,
                        "top1": 0.3 + 0.1 * q + gain,
                        "top5": 0.5 + 0.08 * q + gain,
                    }
                )
    return pd.DataFrame(rows)


def test_summary_compares_anchors_with_anchor1_and_codecs_with_the_first():
    summary = bd_summary(_results({"jpeg": 4, "webp": 5, "tiny": 3}))
    assert list(summary.columns) == bd.BD_COLUMNS
    anchors = summary[summary["comparison"] == "anchor vs anchor1"]
    # anchor2 of jpeg and webp, top1 and top5; "tiny" has 3 qualities: left out.
    assert sorted(set(anchors["codec"])) == ["jpeg/pillow", "webp/pillow"]
    assert len(anchors) == 4
    assert anchors["bd_accuracy_pp"].to_numpy() == pytest.approx(5.0)
    codecs = summary[summary["comparison"] == "codec vs codec"]
    assert set(codecs["codec"]) == {"webp/pillow"}
    assert set(codecs["reference"]) == {"jpeg/pillow (anchor1)", "jpeg/pillow (anchor2)"}
    # webp spends twice jpeg's bits per quality for the same accuracy: +100 %.
    assert codecs["bd_rate_percent"].to_numpy() == pytest.approx(100.0, rel=1e-6)
    assert "anchor3" not in set(summary["anchor"])


def test_summary_is_empty_without_four_qualities():
    assert bd_summary(_results({"jpeg": 3})).empty
