"""Paired comparisons of anchors on the same test images (McNemar's exact test).

Two anchors evaluated on the same images at the same codec x quality differ only on the
images that exactly one of them gets right; :func:`jpegai_eval.framework.run.stats.mcnemar_exact`
turns those counts into a p-value. Read from ``per_image.csv`` (its ``pred_<anchor>``
columns and ``label``), so the report needs nothing but the run folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.run.stats import mcnemar_exact, smallest_resolvable, wilson

if TYPE_CHECKING:
    import pandas as pd

#: (A, B) pairs compared at every codec x quality: the paper's questions. Does retraining
#: on decoded images help (anchor 1 -> 2)? Does the compressed domain lose against
#: retrained pixels (anchor 2 -> compressed)? What does compression cost (3 -> 1)?
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("anchor1", "anchor2"),
    ("anchor2", "compressed"),
    ("anchor3", "anchor1"),
)
ALPHA = 0.05
PAIRED_COLUMNS = [
    "codec",
    "backend",
    "quality",
    "a",
    "b",
    "n",
    "a_top1",
    "b_top1",
    "only_a_right",
    "only_b_right",
    "difference_points",
    "p_value",
    "significant",
]


def paired_tests(per_image: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per codec x quality x comparison whose two anchors were both evaluated."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    if per_image is None or per_image.empty or "label" not in per_image:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    test = per_image[per_image["split"] == "test"] if "split" in per_image else per_image
    for (codec, backend, quality), group in test.groupby(
        ["codec", "backend", "quality"], sort=False, dropna=False
    ):
        for a, b in COMPARISONS:
            ca, cb = f"pred_{a}", f"pred_{b}"
            if ca not in group or cb not in group:
                continue
            both = group[group[ca].notna() & group[cb].notna()]
            if both.empty:
                continue
            right_a = (both[ca].astype(str) == both["label"].astype(str)).tolist()
            right_b = (both[cb].astype(str) == both["label"].astype(str)).tolist()
            t = mcnemar_exact(right_a, right_b)
            rows.append(
                {
                    "codec": codec,
                    "backend": backend,
                    "quality": int(quality),
                    "a": a,
                    "b": b,
                    "n": t.n,
                    "a_top1": sum(right_a) / t.n,
                    "b_top1": sum(right_b) / t.n,
                    "only_a_right": t.only_a,
                    "only_b_right": t.only_b,
                    "difference_points": 100 * t.difference,
                    "p_value": t.p_value,
                    "significant": bool(t.p_value < alpha),
                }
            )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def resolution_note(n: int, alpha: float = ALPHA) -> str:
    """In words, what a test set of ``n`` images can and cannot tell apart."""
    if n <= 0:
        return "No test images: nothing can be resolved."
    low, high = wilson(round(n / 2), n)
    fewest = smallest_resolvable(alpha)
    return (
        f"With {n} test images, one Top-1 near 50% is known to ±{100 * (high - low) / 2:.1f} "
        f"points (95% Wilson interval), so two anchors whose intervals overlap may still "
        f"differ. Paired on the same images, McNemar's exact test can call a difference "
        f"significant at {100 * alpha:g}% only if at least {fewest} more images are right "
        f"for one anchor than for the other ({100 * fewest / n:.1f} points at best, when "
        "they disagree on nothing else); differences below that are noise for this test "
        "set, and more disagreement needs a larger margin."
    )
