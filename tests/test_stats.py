"""Confidence intervals and paired tests against values published or computed by hand."""

import math

import pytest

from jpegai_eval.framework.run.stats import mcnemar_exact, smallest_resolvable, wilson


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        # Newcombe (1998), Table I, method 3 (Wilson score, no continuity correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # symmetric case, by hand: centre 0.5, half-width 0.2634
        (5, 10, 0.2366, 0.7634),
    ],
)
def test_wilson_matches_published_values(k, n, low, high):
    got = wilson(k, n)
    assert got[0] == pytest.approx(low, abs=6e-5)
    assert got[1] == pytest.approx(high, abs=6e-5)


def test_wilson_edges():
    assert wilson(10, 10)[1] == 1.0 and wilson(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)
    assert all(math.isnan(v) for v in wilson(0, 0))
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_mcnemar_exact_known_values():
    # 1 vs 6 discordant pairs: p = 2 * (C(7,0) + C(7,1)) / 2^7 = 0.125
    a = [True] * 1 + [False] * 6 + [True] * 10 + [False] * 3
    b = [False] * 1 + [True] * 6 + [True] * 10 + [False] * 3
    t = mcnemar_exact(a, b)
    assert (t.n, t.only_a, t.only_b) == (20, 1, 6)
    assert t.p_value == pytest.approx(0.125)
    assert t.difference == pytest.approx(5 / 20)
    # 0 vs 5: 2 / 32
    assert mcnemar_exact([False] * 5, [True] * 5).p_value == pytest.approx(0.0625)
    # no discordant pair: nothing to tell
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0
    # Agresti's example (Categorical Data Analysis): 2 vs 9 -> p ~ 0.0654
    assert mcnemar_exact([True] * 2 + [False] * 9, [False] * 2 + [True] * 9).p_value == (
        pytest.approx(0.06543, abs=1e-4)
    )


def test_smallest_resolvable_at_5_percent():
    assert smallest_resolvable(0.05) == 6
    assert smallest_resolvable(0.01) == 8


def test_paired_tests_read_per_image_predictions():
    import pandas as pd

    from jpegai_eval.reports.paired import paired_tests, resolution_note

    # 20 test images at one quality: anchor1 right on 4, anchor2 right on 4 + 8 others
    labels = ["brick"] * 20
    pred1 = ["brick"] * 4 + ["wood"] * 16
    pred2 = ["brick"] * 12 + ["wood"] * 8
    frame = pd.DataFrame(
        {
            "image_id": [f"i{k}" for k in range(20)],
            "split": "test",
            "label": labels,
            "codec": "c",
            "backend": "b",
            "quality": 1,
            "pred_anchor1": pred1,
            "pred_anchor2": pred2,
        }
    )
    out = paired_tests(frame)
    assert len(out) == 1  # compressed and anchor3 absent: only anchor1 vs anchor2
    row = out.iloc[0]
    assert (row["a"], row["b"], row["n"]) == ("anchor1", "anchor2", 20)
    assert (row["only_a_right"], row["only_b_right"]) == (0, 8)
    assert row["p_value"] == pytest.approx(2 / 2**8)
    assert row["difference_points"] == pytest.approx(40.0) and row["significant"]
    note = resolution_note(138)
    assert "138 test images" in note and "at least 6 more images" in note
