"""Result rows: ``results.csv``, ``per_image.csv``, the terminal summary, report writers.

Rows are flat dicts (one per codec x quality x anchor; anchor 3 once per task) so that
writers only read them (pandas) and never recompute anything.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.io.image_io import atomic_output
from jpegai_eval.framework.io.json_types import Scalar, scalar_or_none
from jpegai_eval.framework.run.records import (
    CellResult,
    Encoded,
    EncodedEntry,
    ResultRow,
    result_columns,
)
from jpegai_eval.framework.run.runfolder import RunFolder, cell_name, write_json
from jpegai_eval.framework.run.stats import wilson

if TYPE_CHECKING:
    from jpegai_eval.framework.api.plugins import Plugins
    from jpegai_eval.framework.api.types import Sample
    from jpegai_eval.framework.run.plan import Plan


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
#: :class:`jpegai_eval.framework.run.rate_points.RateChoice`.
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


def csv_text(
    rows: Sequence[Mapping[str, Scalar]], columns: list[str], sort_extra: bool = False
) -> str:
    """``rows`` as CSV: ``columns`` first (empty where a row lacks one), then any other
    keys, in first-seen order or sorted."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for column in columns:
        if column not in frame:
            frame[column] = None
    extra = [c for c in frame.columns if c not in columns]
    text: str = frame[columns + (sorted(extra) if sort_extra else extra)].to_csv(
        index=False, float_format="%.6g"
    )
    return text


def write_csv(path: Path, rows: Sequence[Mapping[str, Scalar]], columns: list[str]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(csv_text(rows, columns))


def with_intervals(row: Mapping[str, Scalar]) -> dict[str, Scalar]:
    """``row`` with the 95 % Wilson interval of its Top-1 and Top-5 over its test images
    (:func:`jpegai_eval.framework.run.stats.wilson`)."""
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
    out_dir: Path, rows: list[ResultRow], per_image: Sequence[Mapping[str, Scalar]]
) -> None:
    from jpegai_eval.framework.io.image_io import atomic_write_bytes

    # the same bytes check_results_file rebuilds from cells/
    folder = RunFolder(out_dir)
    atomic_write_bytes(folder.results_csv, results_bytes(rows))
    write_csv(
        folder.per_image_csv,
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
    predictions: Mapping[str, Mapping[str, int]],
    out_dir: Path | None = None,
    copies: dict[str, str] | None = None,
) -> list[dict[str, Scalar]]:
    """One row per test image per codec x quality, with each anchor's predicted class
    and the image's files: its ``source``, its ``original_copy`` (``copies``: image id
    -> path relative to the run folder) and its cache entries, relative to ``out_dir``.

    ``predictions`` maps a cell name (see ``CellId.name``) to {image id: class index}.
    """
    copies = copies or {}

    def files_of(
        codec: Any, quality: int, sample: Sample, e: EncodedEntry | None
    ) -> dict[str, str | None]:
        files: dict[str, str | None] = {c: None for c in ENTRY_SUFFIXES}
        if e is None:
            return files
        for column, suffix in ENTRY_SUFFIXES.items():
            path = encoded.entry_path(codec, quality, sample, suffix)
            if suffix == "npz" and not e.has_latents:
                continue
            files[column] = (
                Path(os.path.relpath(path, out_dir)).as_posix() if out_dir else str(path)
            )
        return files

    classes = plan.task.classes
    rows = []
    for cp in plan.codecs:
        for q in cp.qualities:
            entries = encoded.entries[(cp.codec.key, q)]
            for sample in samples["test"]:
                e = entries.get(sample.id)
                m: Mapping[str, object] = e.meta if e is not None else {}
                row: dict[str, Scalar] = {
                    "image_id": sample.id,
                    "split": "test",
                    "label": classes[sample.label],
                    "codec": cp.codec.id,
                    "backend": cp.codec.backend,
                    "quality": q,
                    **{k: scalar_or_none(m.get(k)) for k in IMAGE_METRICS},
                    **{k: scalar_or_none(m.get(k)) for k in metric_columns(plan)},
                    **{k: scalar_or_none(m[k]) for k in RATE_POINT_COLUMNS if k in m},
                    "source": str(Path(sample.path).resolve()),
                    "original_copy": copies.get(sample.id),
                    **files_of(cp.codec, q, sample, e),
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


def metric_columns(plan: Plan) -> list[str]:
    """The columns ``--metrics`` adds to per_image.csv and results.csv (beyond psnr,
    ms_ssim and ssim, always there), and ``metrics_ms``, their time per image."""
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.run.encode_stage import ALWAYS_COMPUTED

    registry = get_plugins().metrics
    extra = [registry.get(i).column_name for i in plan.metric_ids if i not in ALWAYS_COMPUTED]
    return [*extra, "metrics_ms"] if extra else []


def with_metric_means(
    rows: list[ResultRow], plan: Plan, encoded: Encoded, test: list[Sample]
) -> list[ResultRow]:
    """``rows`` with each ``--metrics`` column averaged over the row's codec x quality
    test images (rows of the originals get none); NaN and missing values are skipped."""
    columns = metric_columns(plan)
    if not columns:
        return rows
    keys: dict[tuple[Any, Any], str] = {
        (cp.codec.id, cp.codec.backend): cp.codec.key for cp in plan.codecs
    }
    out = []
    for row in rows:
        key = keys.get((row.codec, row.backend))
        point = row.point
        entries: Mapping[str, EncodedEntry] = {}
        if key and point is not None:
            entries = encoded.entries.get((key, point[2]), {})
        means: dict[str, float | None] = {}
        for column in columns:
            values = [entries[s.id].number(column) for s in test if s.id in entries]
            finite = [v for v in values if v is not None and math.isfinite(v)]
            means[column] = sum(finite) / len(finite) if finite else None
        out.append(replace(row, extra={**row.extra, **means}))
    return out


def write_reports(out_dir: Path, plugins: Plugins, only: list[str] | None = None) -> list[Path]:
    """Run every registered report writer (or those in ``only``) on a run folder."""
    written: dict[str, list[Path]] = {}
    for writer in plugins.report_writers:
        if only is None or writer.id in only:
            written[writer.id] = list(writer.write(out_dir, out_dir))
    return prune_outputs(out_dir, written)


def prune_outputs(out_dir: Path, written: dict[str, list[Path]]) -> list[Path]:
    """Record what each writer in ``written`` wrote into ``out_dir`` and delete what
    the same writer wrote there last time but not now. Return every path written.

    ``report-outputs.json`` records which files each report writer wrote last time, so
    that a file a writer no longer produces (a codec's ``compressai/<codec>.json`` after
    the codec left the results) is removed -- and nothing the tool did not write."""

    out_dir = Path(out_dir)
    manifest = RunFolder(out_dir).report_outputs
    try:
        before = json.loads(manifest.read_text(encoding="utf-8"))
        before = before if isinstance(before, dict) else {}
    except (OSError, ValueError):
        before = {}
    base = out_dir.resolve()
    now = dict(before)
    for writer_id, paths in written.items():
        relative = []
        for path in paths:
            try:
                relative.append(Path(path).resolve().relative_to(base).as_posix())
            except ValueError:
                continue  # written elsewhere: not this folder's to prune
        old = before.get(writer_id)
        for name in old if isinstance(old, list) else []:
            if not isinstance(name, str) or name in relative:
                continue
            stale = (base / name).resolve()
            if stale.is_relative_to(base) and stale.is_file() and stale != manifest.resolve():
                stale.unlink()
        now[writer_id] = sorted(relative)
    write_json(manifest, now)
    return [p for paths in written.values() for p in paths]


def store_rows_in_cells(run_dir: Path, names: list[str], rows: list[ResultRow]) -> None:
    """Write each final result row (with the ``--metrics`` means added after the cells
    were evaluated) back into its ``cells/<name>.json``, so that results.csv can always
    be rebuilt from cells/ alone (:func:`check_results_file`)."""
    folder = RunFolder(Path(run_dir))
    for name, row in zip(names, rows, strict=True):
        path = folder.cell_json(name)
        try:
            done = CellResult.read(path)
        except (OSError, ValueError):
            continue
        if done.row != row:
            write_json(path, replace(done, row=row).to_json())


def rows_from_cells(run_dir: Path, names: list[str]) -> list[ResultRow]:
    """The result rows of ``cells/<name>.json``, in ``names``' order; a missing or
    damaged cell is a UserError naming it and the fix."""
    from jpegai_eval.framework.errors import UserError

    rows = []
    for name in names:
        path = RunFolder(Path(run_dir)).cell_json(name)
        try:
            rows.append(CellResult.read(path).row)
        except (OSError, ValueError) as exc:
            why = "missing" if isinstance(exc, FileNotFoundError) else "damaged"
            raise UserError(
                f"{str(path)!r} is {why}, so results.csv cannot be checked or rebuilt "
                f"from the run's cells. Rerun the same `jpegai-eval run` command with --out "
                f"{str(run_dir)!r}: it evaluates that cell again (its classifier is kept) "
                "and rewrites the results and the reports."
            ) from None
    return rows


def results_bytes(rows: Sequence[ResultRow]) -> bytes:
    """``results.csv`` as :func:`write_results` writes it for ``rows``; other columns
    sorted, the same order whether the rows come from the run or from cells/ (JSON)."""
    return csv_text(
        [with_intervals(r.to_json()) for r in rows], result_columns(), sort_extra=True
    ).encode()


def check_results_file(run_dir: Path, names: list[str]) -> str | None:
    """Make ``results.csv`` agree with the run's finished cells (``names``, recorded in
    run.json): rewrite it from ``cells/`` when it was cut, edited or deleted. Return a
    line saying so, or None when it already agreed."""
    from jpegai_eval.framework.io.image_io import atomic_write_bytes

    wanted = results_bytes(rows_from_cells(run_dir, names))
    path = RunFolder(Path(run_dir)).results_csv
    try:
        if path.read_bytes() == wanted:
            return None
    except OSError:
        pass
    atomic_write_bytes(path, wanted)
    return (
        f"results.csv in {str(run_dir)!r} did not match the run's {len(names)} finished "
        "cells (cut, edited or deleted since the run): rebuilt it from cells/"
    )


def summary_table(rows: Sequence[ResultRow]) -> str:
    """Table 2's layout: anchors down, codec x quality across, Top-1 and Top-5."""
    columns: list[tuple[str, str, int]] = []
    labels: dict[tuple[str, str, int], str] = {}
    for r in rows:
        column = r.point
        if column is not None and column not in columns:
            columns.append(column)
            target = r.target_bpp
            if target is not None and not (isinstance(target, float) and math.isnan(target)):
                labels[column] = f"{r.codec}/{r.backend} {float(target):g}bpp"
    anchors: list[str] = []
    for r in rows:
        if r.anchor not in anchors:
            anchors.append(r.anchor)
    heads = [labels.get((c, b, q), f"{c}/{b} q{q}") for c, b, q in columns] or ["original"]
    width = max([12, *(len(h) for h in heads)])
    lines = []
    for metric, title in (("top1", "Top-1 %"), ("top5", "Top-5 %")):
        lines.append(f"{title:<12}" + "".join(f"{h:>{width + 2}}" for h in heads))
        for anchor in anchors:
            cells = []
            mine = [r for r in rows if r.anchor == anchor]
            keys: list[tuple[str, str, int] | None] = list(columns) or [None]
            for key in keys:
                hit = [r for r in mine if key is None or r.point is None or r.point == key]
                value = hit[0].value(metric) if hit else None
                cells.append(f"{100 * value:.2f}" if value is not None else "-")
            lines.append(f"{anchor:<12}" + "".join(f"{c:>{width + 2}}" for c in cells))
        lines.append("")
    sizes = sorted({int(r.n_test) for r in rows if r.n_test})
    if sizes:
        n = sizes[0]
        low, high = wilson(round(n / 2), n)
        lines.append(
            f"{'/'.join(map(str, sizes))} test images: a Top-1 near 50% is known to "
            f"+/-{100 * (high - low) / 2:.1f} points (95% Wilson interval; every cell's "
            "interval is in results.csv, paired tests in the report)."
        )
    return "\n".join(lines).rstrip()


def print_summary(rows: Sequence[ResultRow]) -> None:
    """Print Table 2 and, for a target-rate run, how close each cell came to its rate."""
    from jpegai_eval.framework.run.rate_points import rate_summary

    print(summary_table(rows), flush=True)
    rates = rate_summary(rows)
    if rates:
        print(rates, flush=True)
