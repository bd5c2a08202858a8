"""``bd_metrics.csv``: JPEG AI's reporting layout -- one row per codec, one column per
metric -- of the BD-rate of every codec against an anchor codec, and the task BD-rate
(BD-rate at equal Top-1, the VCM/FCM convention) for each anchor with a 95 % bootstrap
interval over the test images.

BD-rate is Bjøntegaard's average bpp difference at equal quality (percent; negative:
fewer bits), pchip, as the ``bjontegaard`` package computes it (:mod:`.bd`). A metric
where lower is better (NLPD) is negated first, so that quality rises with rate. The
anchor codec is ``jpegai-eval report --bd-anchor`` (:class:`ReportOptions`), else the
run's ``--bd-anchor`` (``run.json``'s ``config.bd_anchor``), else ``jpeg`` when the run
has it, else the first codec. The bootstrap resamples the test images
with replacement, the same images for every codec and quality (the comparison is
paired), and recomputes each quality's mean bpp and Top-1 from ``per_image.csv``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jpegai_eval.framework.api.types import ReportOptions, ReportWriter
from jpegai_eval.reports.bd import Curve, bd_rate

#: Bootstrap resamples of the task BD-rate interval, and its seed (reproducible).
BOOTSTRAP = 1000
SEED = 0

#: results.csv columns that are not metrics.
_NOT_METRICS = {
    "codec",
    "backend",
    "quality",
    "anchor",
    "domain",
    "bpp",
    "top1",
    "top5",
    "n_test",
    "classifier",
    "params",
    "macs",
    "provider",
    "init",
    "metrics_ms",
    "onnx_max_abs_diff",
}


def metric_columns(results: Any) -> dict[str, bool]:
    """{results column: higher is better} for the fidelity metrics the run has:
    psnr, ms_ssim, ssim and every registered metric's column present."""
    from jpegai_eval.framework.api.plugins import get_plugins

    out = {c: True for c in ("psnr", "ms_ssim", "ssim") if c in results}
    for metric in get_plugins().metrics:
        column = metric.column_name
        if column in results and column not in _NOT_METRICS:
            out[column] = metric.higher_is_better
    return out


def choose_anchor(codecs: list[str], wanted: str | None) -> str | None:
    """The anchor codec label (``id/backend``) among ``codecs``: ``wanted`` (an id or
    ``id/backend``), else jpeg, else the first."""
    for name in ([wanted] if wanted else []) + ["jpeg"]:
        for label in codecs:
            if label == name or label.split("/")[0] == name:
                return label
    return codecs[0] if codecs else None


def wanted_anchor(info: dict[str, Any], options: ReportOptions) -> str | None:
    """The anchor codec asked for: the report's option, else the run's ``--bd-anchor``."""
    return options.bd_anchor or (info.get("config") or {}).get("bd_anchor")


def check_bd_anchor(results: Any, anchor: str | None, run_dir: Path) -> None:
    """Refuse an ``anchor`` (id or ``id/backend``) that is no coded codec of the run."""
    from jpegai_eval.framework.errors import UsageError

    if not anchor or "codec" not in results:
        return
    coded = results[results["quality"].notna()] if "quality" in results else results
    labels = sorted(set(coded["codec"].astype(str) + "/" + coded["backend"].fillna("").astype(str)))
    if any(anchor in (label, label.split("/")[0]) for label in labels):
        return
    raise UsageError(
        f"--bd-anchor {anchor!r} is not a codec of the run in {str(run_dir)!r}: its "
        f"results.csv has {', '.join(labels) or 'no coded codec'}. Give one of these (a "
        "codec id or id/backend), or leave --bd-anchor out to keep the run's own anchor."
    )


def _codec_points(results: Any) -> Any:
    """One row per codec x quality (the metrics do not depend on the anchor)."""
    coded = results[results["quality"].notna()].copy()
    coded["label"] = coded["codec"] + "/" + coded["backend"]
    return coded.drop_duplicates(["label", "quality"]).sort_values(["label", "quality"])


def _bd(
    ref_bpp: Iterable[float],
    ref_q: Iterable[float],
    tst_bpp: Iterable[float],
    tst_q: Iterable[float],
    higher_is_better: bool,
) -> tuple[float, str]:
    sign = 1.0 if higher_is_better else -1.0
    return bd_rate(
        Curve(list(ref_bpp), [sign * float(v) for v in ref_q]),
        Curve(list(tst_bpp), [sign * float(v) for v in tst_q]),
    )


def task_curves(per_image: Any, anchor: str) -> dict[str, tuple[Any, Any, Any]]:
    """{codec label: (qualities, bpp matrix, correct matrix)} with one column per test
    image (images in one order for every codec), for ``anchor``'s predictions."""
    import numpy as np

    column = f"pred_{anchor}"
    out: dict[str, tuple[Any, Any, Any]] = {}
    if per_image is None or column not in per_image:
        return out
    frame = per_image.copy()
    frame["label_codec"] = frame["codec"].astype(str) + "/" + frame["backend"].astype(str)
    images = sorted(frame["image_id"].astype(str).unique())
    for label, group in frame.groupby("label_codec", sort=False):
        qualities = sorted(group["quality"].dropna().unique())
        bpp = np.full((len(qualities), len(images)), np.nan)
        correct = np.full((len(qualities), len(images)), np.nan)
        index = {image: i for i, image in enumerate(images)}
        for qi, quality in enumerate(qualities):
            rows = group[group["quality"] == quality]
            for _, row in rows.iterrows():
                i = index[str(row["image_id"])]
                bpp[qi, i] = float(row["bpp"])
                pred = row[column]
                correct[qi, i] = (
                    float(str(pred) == str(row["label"])) if pred is not None else np.nan
                )
        out[str(label)] = (qualities, bpp, correct)
    return out


def task_bd_rate(
    reference: tuple[Any, Any, Any], test: tuple[Any, Any, Any], resamples: int = BOOTSTRAP
) -> tuple[float, float, float, str]:
    """BD-rate at equal Top-1 of ``test`` against ``reference`` over all test images,
    with the 2.5 and 97.5 percentiles over ``resamples`` paired bootstrap resamples
    (resamples where the curves allow no BD-rate are left out; the note says how many)."""
    import numpy as np

    _, ref_bpp, ref_ok = reference
    _, tst_bpp, tst_ok = test
    n = ref_bpp.shape[1]

    def value(columns: Any) -> tuple[float, str]:
        return bd_rate(
            Curve(
                list(np.nanmean(ref_bpp[:, columns], 1)), list(np.nanmean(ref_ok[:, columns], 1))
            ),
            Curve(
                list(np.nanmean(tst_bpp[:, columns], 1)), list(np.nanmean(tst_ok[:, columns], 1))
            ),
        )

    point, note = value(np.arange(n))
    if not math.isfinite(point):
        return point, math.nan, math.nan, note
    rng = np.random.default_rng(SEED)
    draws = [value(rng.integers(0, n, n))[0] for _ in range(resamples)]
    finite = np.array([d for d in draws if math.isfinite(d)])
    dropped = resamples - finite.size
    if finite.size < resamples // 2:
        return (
            point,
            math.nan,
            math.nan,
            (f"no interval: {dropped} of {resamples} resamples allow no BD-rate"),
        )
    low, high = np.percentile(finite, [2.5, 97.5])
    note = f"{dropped} of {resamples} resamples allow no BD-rate" if dropped else ""
    return point, float(low), float(high), note


def bd_metrics(results: Any, per_image: Any, anchor_codec: str | None = None) -> Any:
    """The ``bd_metrics.csv`` table (see the module note)."""
    import pandas as pd

    points = _codec_points(results)
    codecs = list(dict.fromkeys(points["label"]))
    reference = choose_anchor(codecs, anchor_codec)
    metrics = metric_columns(results)
    anchors = [
        a
        for a in dict.fromkeys(results["anchor"])
        if f"pred_{a}" in (per_image if per_image is not None else {})
    ]
    anchors = [a for a in anchors if a != "anchor3"]  # anchor 3 reads originals: no curve
    curves = {a: task_curves(per_image, a) for a in anchors}
    rows = []
    ref = points[points["label"] == reference]
    for codec in codecs:
        if codec == reference:
            continue
        mine = points[points["label"] == codec]
        row: dict[str, Any] = {"codec": codec, "reference": reference}
        notes = []
        for column, higher in metrics.items():
            value, note = _bd(ref["bpp"], ref[column], mine["bpp"], mine[column], higher)
            row[column] = value
            if note:
                notes.append(f"{column}: {note}")
        for anchor in anchors:
            name = f"task_top1_{anchor}"
            if codec in curves[anchor] and reference in curves[anchor]:
                value, low, high, note = task_bd_rate(
                    curves[anchor][reference], curves[anchor][codec]
                )
            else:
                value, low, high, note = math.nan, math.nan, math.nan, "no predictions"
            row[name], row[f"{name}_ci95_low"], row[f"{name}_ci95_high"] = value, low, high
            if note:
                notes.append(f"{name}: {note}")
        row["note"] = "; ".join(notes)
        rows.append(row)
    columns = ["codec", "reference", *metrics]
    for anchor in anchors:
        name = f"task_top1_{anchor}"
        columns += [name, f"{name}_ci95_low", f"{name}_ci95_high"]
    return pd.DataFrame(rows, columns=[*columns, "note"])


class BdMetricsWriter(ReportWriter):
    id = "bd-metrics"
    format = "bd-metrics"
    description = (
        "bd_metrics.csv: BD-rate of every codec against the anchor codec per metric, and "
        "the task BD-rate at equal Top-1 per anchor with a 95% bootstrap interval."
    )
    outputs = ("bd_metrics.csv",)

    def write(self, run_dir: Path, out_dir: Path) -> list[Path]:
        return self.write_with(run_dir, out_dir, ReportOptions())

    def write_with(self, run_dir: Path, out_dir: Path, options: ReportOptions) -> list[Path]:
        from jpegai_eval.framework.io.image_io import atomic_output
        from jpegai_eval.reports.tables import read_per_image, read_results, read_run_info

        results = read_results(run_dir)
        per_image = read_per_image(run_dir)
        check_bd_anchor(results, options.bd_anchor, run_dir)
        frame = bd_metrics(results, per_image, wanted_anchor(read_run_info(run_dir), options))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "bd_metrics.csv"
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
        return [path]
