"""When not to trust a report: the warnings shown above its tables.

A run can finish cleanly and still say nothing: the ``smoke`` preset checks plumbing,
an anchor 3 at chance means the classifiers learned nothing measurable, and a
classifier trained on decoded images that beats anchor 3 on the originals by a
significant margin means the classifiers are under-trained for the data (the table
alone would read as if compression helped). Each warning is one sentence with the
numbers and what to do; :func:`warnings_for` reads only the run folder's files (as
DataFrames and ``run.json``), and :func:`top5_meaningful` says whether Top-5 columns
carry information at all (they do not with 5 classes or fewer).
"""

from __future__ import annotations

from typing import Any

from jpegai_eval.framework.run.stats import mcnemar_exact, wilson

ALPHA = 0.05


def n_classes(info: dict[str, Any], per_image: Any = None) -> int | None:
    """The task's class count as run.json records it (None for a run folder written
    before it did: the test split's labels may not show every class)."""
    value = info.get("n_classes")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def top5_meaningful(info: dict[str, Any], per_image: Any = None) -> bool:
    """Top-5 says something only when the task has more than 5 classes."""
    count = n_classes(info, per_image)
    return count is None or count > 5


def warnings_for(info: dict[str, Any], results: Any, per_image: Any = None) -> list[str]:
    """Every reason to distrust this run's numbers, each one sentence."""
    out: list[str] = []
    status = info.get("status")
    if status in ("failed", "interrupted", "running"):
        when = info.get("stopped") or info.get("started", "?")
        error = str(info.get("error") or "").split("\n")[0][:300]
        finished = info.get("finished")
        out.append(
            f"The last invocation of this run is {status} ({when}"
            + (f": {error}" if error else "")
            + "); the results below are those of the last finished invocation"
            + (f" ({finished})" if finished else "")
            + ". Rerun the same command to finish the run and refresh this report."
        )
    if (info.get("config") or {}).get("preset") == "smoke":
        out.append(
            "Preset smoke: a plumbing check (tiny classifiers, one epoch), not a measurement; "
            "its accuracies mean nothing. Use --preset quick or paper for numbers."
        )
    chance = _chance_warning(info, results, per_image)
    if chance:
        out.append(chance)
    out += _beats_original_warnings(per_image)
    return out


def _chance_warning(info: dict[str, Any], results: Any, per_image: Any) -> str | None:
    count = n_classes(info, per_image)
    if not count or results is None or "anchor" not in results:
        return None
    row = results[results["anchor"] == "anchor3"]
    if row.empty:
        return None
    top1, n = row["top1"].iloc[0], row["n_test"].iloc[0]
    try:
        top1, n = float(top1), int(n)
    except (TypeError, ValueError):
        return None
    low, high = wilson(round(top1 * n), n)
    chance = 1.0 / count
    if not low <= chance <= high:
        return None
    return (
        f"Anchor 3 (originals) reaches Top-1 {100 * top1:.1f}% on {n} test images, and its "
        f"95% interval [{100 * low:.1f}, {100 * high:.1f}]% holds chance (1/{count} = "
        f"{100 * chance:.1f}%): the classifiers learned nothing measurable, so no "
        "difference between cells means anything. Train longer (--preset quick or paper) "
        "or on more images."
    )


def _beats_original_warnings(per_image: Any) -> list[str]:
    """Anchor 2 (trained and tested on decoded images) significantly better than
    anchor 3 (originals) at some codec x quality: McNemar's exact test on the same
    test images."""
    if per_image is None or "pred_anchor2" not in per_image or "pred_anchor3" not in per_image:
        return []
    test = per_image[per_image["split"] == "test"] if "split" in per_image else per_image
    better: list[str] = []
    for (codec, backend, quality), group in test.groupby(
        ["codec", "backend", "quality"], sort=False, dropna=False
    ):
        both = group[group["pred_anchor2"].notna() & group["pred_anchor3"].notna()]
        if both.empty:
            continue
        labels = both["label"].astype(str)
        right3 = (both["pred_anchor3"].astype(str) == labels).tolist()
        right2 = (both["pred_anchor2"].astype(str) == labels).tolist()
        t = mcnemar_exact(right3, right2)
        if t.only_b > t.only_a and t.p_value < ALPHA:
            better.append(
                f"{codec}/{backend} q{int(quality)} ({100 * sum(right2) / t.n:.1f}% against "
                f"{100 * sum(right3) / t.n:.1f}%, p = {t.p_value:.3g})"
            )
    if not better:
        return []
    return [
        "A classifier trained on decoded images beats anchor 3 on the originals by a "
        f"significant margin (McNemar, 5%) at {', '.join(better)}: compression does not "
        "add information, so the classifiers are under-trained for this data and the "
        "table should not be read as compression helping. Train longer (--preset paper) "
        "or on more images."
    ]
