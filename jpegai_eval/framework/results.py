"""Result rows: ``results.csv``, ``per_image.csv``, the terminal summary, report writers.

Rows are flat dicts (one per codec x quality x anchor; anchor 3 once per task) so that
writers only read them (pandas) and never recompute anything.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jpegai_eval.framework.image_io import atomic_output
from jpegai_eval.framework.runfolder import Encoded, cell_name
from jpegai_eval.framework.stats import wilson

if TYPE_CHECKING:
    from jpegai_eval.framework.plan import Plan
    from jpegai_eval.framework.plugins import Plugins
    from jpegai_eval.framework.types import Sample

RESULT_COLUMNS = [
    "codec",
    "backend",
    "quality",
    "anchor",
    "domain",
    "bpp",
    "target_bpp",
    "bpp_within_10pct",
    "psnr",
    "ms_ssim",
    "ssim",
    "top1",
    "top5",
    "top1_ci95_low",
    "top1_ci95_high",
    "top5_ci95_low",
    "top5_ci95_high",
    "n_test",
    "classifier",
    "params",
    "macs",
    "provider",
    "infer_ms_per_image",
    "encode_ms_per_image",
    "latents_ms_per_image",
    "decode_ms_per_image",
    "onnx_max_abs_diff",
    "init",
]


#: Per-image columns taken from an encode-cache entry.
IMAGE_METRICS = (
    "bytes",
    "bpp",
    "psnr",
    "ms_ssim",
    "ssim",
    "encode_ms",
    "decode_ms",
    "latents_ms",
)


#: Per-image columns of a target-rate cell (``run --target-bpp``): see
#: :class:`jpegai_eval.framework.rate_points.RateChoice`.
RATE_POINT_COLUMNS = (
    "target_bpp",
    "parameter",
    "chosen_quality",
    "search_steps",
    "within_tolerance",
)

#: Per-image columns naming files: the original, its copy in the run folder (if any)
#: and the cache entry of the row's codec x quality (paths relative to the run folder).
IMAGE_FILES = ("source", "original_copy", "bitstream", "decoded", "latents")

#: Cache-entry suffix of each file column.
ENTRY_SUFFIXES = {"bitstream": "jai", "decoded": "png", "latents": "npz"}


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    for column in columns:
        if column not in frame:
            frame[column] = None
    extra = [c for c in frame.columns if c not in columns]
    with atomic_output(path) as tmp:
        frame[columns + extra].to_csv(tmp, index=False, float_format="%.6g")


def with_intervals(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the 95 % Wilson interval of its Top-1 and Top-5 over its test images
    (:func:`jpegai_eval.framework.stats.wilson`)."""
    out = dict(row)
    n = row.get("n_test")
    for metric in ("top1", "top5"):
        value = row.get(metric)
        if not n or value is None or not math.isfinite(float(value)):
            out[f"{metric}_ci95_low"] = out[f"{metric}_ci95_high"] = None
            continue
        low, high = wilson(round(float(value) * int(n)), int(n))
        out[f"{metric}_ci95_low"], out[f"{metric}_ci95_high"] = low, high
    return out


def write_results(
    out_dir: Path, rows: list[dict[str, Any]], per_image: list[dict[str, Any]]
) -> None:
    write_csv(out_dir / "results.csv", [with_intervals(r) for r in rows], RESULT_COLUMNS)
    write_csv(
        out_dir / "per_image.csv",
        per_image,
        [
            "image_id",
            "split",
            "label",
            "codec",
            "backend",
            "quality",
            *IMAGE_METRICS,
            *IMAGE_FILES,
        ],
    )


def per_image_rows(
    plan: Plan,
    samples: dict[str, list[Sample]],
    encoded: Encoded,
    predictions: dict[str, dict[str, int]],
    out_dir: Path | None = None,
    copies: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per test image per codec x quality, with each anchor's predicted class
    and the image's files: its ``source``, its ``original_copy`` (``copies``: image id
    -> path relative to the run folder) and its cache entries, relative to ``out_dir``.

    ``predictions`` maps a cell name (see ``CellId.name``) to {image id: class index}.
    """
    copies = copies or {}

    def entry(codec: Any, quality: int, sample: Sample, m: dict[str, Any]) -> dict[str, Any]:
        files: dict[str, Any] = {c: None for c in ENTRY_SUFFIXES}
        if "_key" not in m:
            return files
        for column, suffix in ENTRY_SUFFIXES.items():
            path = encoded.entry_path(codec, quality, sample, suffix)
            if suffix == "npz" and not m.get("has_latents"):
                continue
            files[column] = (
                Path(os.path.relpath(path, out_dir)).as_posix() if out_dir else str(path)
            )
        return files

    classes = plan.task.classes
    rows = []
    for cp in plan.codecs:
        for q in cp.qualities:
            metrics = encoded.metrics[(cp.codec.key, q)]
            for sample in samples["test"]:
                m = metrics.get(sample.id, {})
                row: dict[str, Any] = {
                    "image_id": sample.id,
                    "split": "test",
                    "label": classes[sample.label],
                    "codec": cp.codec.id,
                    "backend": cp.codec.backend,
                    "quality": q,
                    **{k: m.get(k) for k in IMAGE_METRICS},
                    **{k: m[k] for k in RATE_POINT_COLUMNS if k in m},
                    "source": str(Path(sample.path).resolve()),
                    "original_copy": copies.get(sample.id),
                    **entry(cp.codec, q, sample, m),
                }
                for anchor in plan.anchors:
                    name = (
                        cell_name(anchor.id, cp.codec, q)
                        if anchor.per_quality
                        else cell_name(anchor.id, None, None)
                    )
                    if name in predictions and sample.id in predictions[name]:
                        row[f"pred_{anchor.id}"] = classes[predictions[name][sample.id]]
                rows.append(row)
    return rows


def write_reports(out_dir: Path, plugins: Plugins, only: list[str] | None = None) -> list[Path]:
    """Run every registered report writer (or those in ``only``) on a run folder."""
    paths: list[Path] = []
    for writer in plugins.report_writers:
        if only is None or writer.id in only:
            paths += writer.write(out_dir, out_dir)
    return paths


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Table 2's layout: anchors down, codec x quality across, Top-1 and Top-5."""
    columns: list[tuple[str, str, int]] = []
    labels: dict[tuple[str, str, int], str] = {}
    for r in rows:
        if r["quality"] is not None and not (
            isinstance(r["quality"], float) and math.isnan(r["quality"])
        ):
            column = (r["codec"], r["backend"], int(r["quality"]))
            if column not in columns:
                columns.append(column)
                target = r.get("target_bpp")
                if target is not None and not (isinstance(target, float) and math.isnan(target)):
                    labels[column] = f"{r['codec']}/{r['backend']} {float(target):g}bpp"
    anchors: list[str] = []
    for r in rows:
        if r["anchor"] not in anchors:
            anchors.append(r["anchor"])
    heads = [labels.get((c, b, q), f"{c}/{b} q{q}") for c, b, q in columns] or ["original"]
    width = max([12, *(len(h) for h in heads)])
    lines = []
    for metric, title in (("top1", "Top-1 %"), ("top5", "Top-5 %")):
        lines.append(f"{title:<12}" + "".join(f"{h:>{width + 2}}" for h in heads))
        for anchor in anchors:
            cells = []
            mine = [r for r in rows if r["anchor"] == anchor]
            keys: list[tuple[str, str, int] | None] = list(columns) or [None]
            for key in keys:
                hit = [
                    r
                    for r in mine
                    if key is None
                    or r["quality"] is None
                    or (r["codec"], r["backend"], int(r["quality"])) == key
                ]
                value = hit[0][metric] if hit else None
                cells.append(f"{100 * value:.2f}" if value is not None else "-")
            lines.append(f"{anchor:<12}" + "".join(f"{c:>{width + 2}}" for c in cells))
        lines.append("")
    sizes = sorted({int(r["n_test"]) for r in rows if r.get("n_test")})
    if sizes:
        n = sizes[0]
        low, high = wilson(round(n / 2), n)
        lines.append(
            f"{'/'.join(map(str, sizes))} test images: a Top-1 near 50% is known to "
            f"+/-{100 * (high - low) / 2:.1f} points (95% Wilson interval; every cell's "
            "interval is in results.csv, paired tests in the report)."
        )
    return "\n".join(lines).rstrip()


def print_summary(rows: list[dict[str, Any]]) -> None:
    from jpegai_eval.framework.rate_points import rate_summary

    click.echo(summary_table(rows))
    rates = rate_summary(rows)
    if rates:
        click.echo(rates)
