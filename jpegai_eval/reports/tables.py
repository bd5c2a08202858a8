"""Tables built from a run folder's result files; the CSV report writer.

- ``table_top1.csv`` / ``table_top5.csv``: Table 2 -- rows are anchors, columns are
  codec x quality (anchor 3, which has no codec, fills its row with its one value);
  ``table_top1_ci95.csv`` / ``table_top5_ci95.csv``: the same cells' 95 % Wilson
  intervals over the test images, as ``[low, high]`` in percent;
- ``paired_tests.csv``: McNemar's exact test for anchor 1 vs 2, anchor 2 vs compressed
  and anchor 3 vs 1 at every codec x quality, on the same test images (:mod:`.paired`);
- ``rate_accuracy.csv``: the points of Figure 3 -- codec, anchor, quality, bpp, psnr,
  ssim, ms_ssim, top1, top5;
- ``bd_summary.csv``: Bjøntegaard summaries of those curves (see :mod:`.bd`);
- ``per_class_accuracy.csv``: each anchor's Top-1 per class, from ``per_image.csv``;
- ``inference_cost.csv``: the cost per image of the pixel and compressed pipelines.

Everything here only reads the run folder; nothing is recomputed from images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.types import ReportWriter
from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.image_io import atomic_output

if TYPE_CHECKING:
    import pandas as pd

RATE_ACCURACY_COLUMNS = [
    "codec",
    "backend",
    "anchor",
    "quality",
    "bpp",
    "target_bpp",
    "bpp_within_10pct",
    "psnr",
    "ssim",
    "ms_ssim",
    "top1",
    "top5",
    "top1_ci95_low",
    "top1_ci95_high",
    "top5_ci95_low",
    "top5_ci95_high",
    "n_test",
]
COST_COLUMNS = [
    "codec",
    "backend",
    "quality",
    "anchor",
    "pipeline",
    "classifier",
    "params",
    "macs",
    "decode_ms_per_image",
    "latents_ms_per_image",
    "infer_ms_per_image",
    "total_ms_per_image",
]


def read_results(run_dir: Path) -> pd.DataFrame:
    import pandas as pd

    path = Path(run_dir) / "results.csv"
    if not path.is_file():
        raise UserError(
            f"No results.csv in {str(run_dir)!r}: give the output folder of a finished "
            "`jpegai-eval run` (rerun it with the same --out to finish it)."
        )
    try:
        results = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise UserError(
            f"{str(path)!r} cannot be read as CSV ({exc}). Rerun `jpegai-eval run` with "
            "the same --out to rewrite it."
        ) from None
    missing = [c for c in ("codec", "anchor", "quality", "top1", "top5") if c not in results]
    if missing:
        raise UserError(
            f"{str(path)!r} lacks the column(s) {', '.join(missing)}: it was not written by "
            "`jpegai-eval run`. Give the output folder of a run."
        )
    for column in ("codec", "backend", "anchor"):
        if column in results:
            results[column] = results[column].fillna("").astype(str)
    check_results(results, path)
    return results


#: Numeric columns of results.csv that a report reads.
NUMERIC_COLUMNS = (
    "quality",
    "bpp",
    "psnr",
    "ssim",
    "ms_ssim",
    "top1",
    "top5",
    "n_test",
    "params",
    "macs",
    "infer_ms_per_image",
    "encode_ms_per_image",
    "latents_ms_per_image",
    "decode_ms_per_image",
)


def check_results(results: pd.DataFrame, path: Path) -> None:
    """Refuse a results.csv whose values no run writes: text in numeric columns, a
    fractional quality or test count, an accuracy outside 0..1, duplicate rows. Converts
    the numeric columns in place."""
    import numpy as np
    import pandas as pd

    def bad(column: str, mask: Any, why: str) -> UserError:
        index = int(np.flatnonzero(np.asarray(mask))[0])
        value = raw[column].iloc[index] if column in raw else results[column].iloc[index]
        return UserError(
            f"{str(path)!r} row {index + 2} has {column} = {value!r}: {why}. The file was "
            "edited or damaged; rerun `jpegai-eval run` with the same --out to rewrite it."
        )

    raw = results.copy()
    for column in NUMERIC_COLUMNS:
        if column not in results:
            continue
        values = pd.to_numeric(results[column], errors="coerce")
        text = values.isna() & results[column].notna()
        if text.any():
            raise bad(column, text, "not a number")
        results[column] = values
    finite = {c: results[c].dropna() for c in NUMERIC_COLUMNS if c in results}
    for column, values in finite.items():
        infinite = ~np.isfinite(values.to_numpy(dtype=float))
        if infinite.any():
            raise bad(column, results[column].isin(values[infinite]), "not a finite number")
    for column in ("quality", "n_test"):
        if column in results:
            values = results[column]
            wrong = values.notna() & ((values != values.round()) | (values < 0))
            if wrong.any():
                raise bad(column, wrong, "not a whole non-negative number")
    for column in ("top1", "top5"):
        if column in results:
            values = results[column]
            wrong = values.notna() & ((values < 0) | (values > 1))
            if wrong.any():
                raise bad(column, wrong, "an accuracy must lie between 0 and 1")
    keys = [c for c in ("codec", "backend", "anchor", "quality") if c in results]
    duplicated = results.duplicated(keys, keep="first")
    if duplicated.any():
        index = int(np.flatnonzero(duplicated.to_numpy())[0])
        row = results.iloc[index]
        what = ", ".join(f"{k} {row[k]!r}" for k in keys)
        raise UserError(
            f"{str(path)!r} row {index + 2} repeats an earlier row ({what}): a run writes "
            "one row per anchor x codec x quality. The file was edited or concatenated; "
            "rerun `jpegai-eval run` with the same --out to rewrite it."
        )


def read_per_image(run_dir: Path) -> pd.DataFrame | None:
    """``per_image.csv`` as a DataFrame, or None when the run has none."""
    import pandas as pd

    path = Path(run_dir) / "per_image.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={"image_id": str, "label": str})
    for column in frame.columns:
        if column.startswith("pred_") or column in ("codec", "backend"):
            frame[column] = frame[column].astype("string")
    return frame


def read_run_info(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict):
        raise UserError(
            f"{str(path)!r} is not a jpegai-eval run record (it holds a JSON "
            f"{type(info).__name__}, not an object). Rerun `jpegai-eval run` with the same "
            "--out to rewrite it, or delete it to build the report without run details."
        )
    return info


def column_label(codec: str, backend: str, quality: Any) -> str:
    return f"{codec}/{backend} q{int(quality)}"


def coded_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The per-quality rows, ordered by codec (first appearance), backend and quality."""
    coded = results[results["quality"].notna()].copy()
    order = {c: i for i, c in enumerate(dict.fromkeys(coded["codec"] + "/" + coded["backend"]))}
    coded["_order"] = (coded["codec"] + "/" + coded["backend"]).map(order)
    return coded.sort_values(["_order", "quality"], kind="stable").drop(columns="_order")


def table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Anchors x (codec/backend qN) table of ``metric`` in percent (Table 2)."""
    import pandas as pd

    coded = coded_rows(results)
    targets = coded["target_bpp"] if "target_bpp" in coded else [math.nan] * len(coded)
    labels = [
        column_label(c, b, q) if pd.isna(t) else f"{c}/{b} {float(t):g} bpp"
        for c, b, q, t in zip(
            coded["codec"], coded["backend"], coded["quality"], targets, strict=True
        )
    ]
    order = list(dict.fromkeys(labels))
    anchors = list(dict.fromkeys(results["anchor"]))
    out = pd.DataFrame(index=anchors, columns=order or ["original"], dtype=float)
    for label, (_, row) in zip(labels, coded.iterrows(), strict=True):
        out.loc[row["anchor"], label] = 100 * row[metric]
    for _, row in results[results["quality"].isna()].iterrows():
        out.loc[row["anchor"], :] = 100 * row[metric]
    out.index.name = "anchor"
    return out


def interval_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Table 2's layout with each cell's 95 % interval as text, ``[low, high]`` in %."""
    low = table(_with_metric(results, f"{metric}_ci95_low"), f"{metric}_ci95_low")
    high = table(_with_metric(results, f"{metric}_ci95_high"), f"{metric}_ci95_high")
    out = low.copy().astype(object)
    for r in out.index:
        for c in out.columns:
            lo, hi = low.loc[r, c], high.loc[r, c]
            out.loc[r, c] = "" if math.isnan(lo) or math.isnan(hi) else f"[{lo:.2f}, {hi:.2f}]"
    return out


def _with_metric(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """``results`` with ``column`` present (NaN for runs written before it existed)."""
    if column in results:
        return results
    out = results.copy()
    out[column] = math.nan
    return out


def rate_accuracy(results: pd.DataFrame) -> pd.DataFrame:
    """The points of Figure 3, one per codec x anchor x quality."""
    coded = coded_rows(results)
    for column in RATE_ACCURACY_COLUMNS:
        if column not in coded:
            coded[column] = math.nan
    out = coded[RATE_ACCURACY_COLUMNS].copy()
    out["quality"] = out["quality"].astype(int)
    return out.reset_index(drop=True)


def anchor_references(results: pd.DataFrame) -> pd.DataFrame:
    """Rows without a codec and quality (anchor 3): horizontal lines on the plots."""
    return results[results["quality"].isna()].reset_index(drop=True)


def per_class_accuracy(
    per_image: pd.DataFrame | None, per_task_anchors: Collection[str] = ("anchor3",)
) -> pd.DataFrame:
    """Top-1 per class, long format: class, anchor, codec, backend, quality, n, top1.

    Anchors that run once per task (``per_task_anchors``, from the rows of
    ``results.csv`` without a quality) appear once, with empty codec/quality: their
    prediction is repeated in every codec x quality row, so each image counts once.
    """
    import pandas as pd

    columns = ["class", "anchor", "codec", "backend", "quality", "n", "top1"]
    if per_image is None or per_image.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    anchors = [c[len("pred_") :] for c in per_image.columns if c.startswith("pred_")]
    for anchor in anchors:
        column = f"pred_{anchor}"
        seen = per_image[per_image[column].notna()]
        if seen.empty:
            continue
        if anchor in per_task_anchors:
            groups = [(("", "", math.nan), seen.drop_duplicates("image_id"))]
        else:
            groups = list(seen.groupby(["codec", "backend", "quality"], sort=False))
        for (codec, backend, quality), group in groups:
            correct = group[column] == group["label"]
            for label, hits in correct.groupby(group["label"], sort=True):
                rows.append(
                    {
                        "class": label,
                        "anchor": anchor,
                        "codec": codec,
                        "backend": backend,
                        "quality": quality,
                        "n": int(hits.size),
                        "top1": float(hits.mean()),
                    }
                )
    return pd.DataFrame(rows, columns=columns)


def inference_cost(results: pd.DataFrame) -> pd.DataFrame:
    """Cost per test image of each anchor's pipeline at each codec x quality.

    - pixel pipeline: decode (entropy decode + g_s) + the pixel classifier (ResNet-50);
    - compressed pipeline: latents (entropy decode + h_s, no g_s) + the latent
      classifier (cResNet-39);
    - anchor 3 reads originals: its classifier alone.
    """
    import pandas as pd

    def get(row: pd.Series, key: str) -> float:
        return float(row[key]) if key in row and pd.notna(row[key]) else math.nan

    rows = []
    for _, row in results.iterrows():
        latent = str(row.get("domain", "")) == "latent"
        coded = pd.notna(row["quality"])
        front = (
            get(row, "latents_ms_per_image")
            if latent
            else (get(row, "decode_ms_per_image") if coded else 0.0)
        )
        pipeline = "compressed" if latent else ("pixel" if coded else "original")
        rows.append(
            {
                "codec": row["codec"],
                "backend": row.get("backend", ""),
                "quality": row["quality"],
                "anchor": row["anchor"],
                "pipeline": pipeline,
                "classifier": row.get("classifier", ""),
                "params": get(row, "params"),
                "macs": get(row, "macs"),
                "decode_ms_per_image": get(row, "decode_ms_per_image")
                if coded and not latent
                else math.nan,
                "latents_ms_per_image": get(row, "latents_ms_per_image") if latent else math.nan,
                "infer_ms_per_image": get(row, "infer_ms_per_image"),
                "total_ms_per_image": front + get(row, "infer_ms_per_image"),
            }
        )
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def _write_csv(frame: pd.DataFrame, path: Path, **options: Any) -> Path:
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, **options)
    return path


class CsvTablesWriter(ReportWriter):
    id = "csv-tables"
    format = "csv"
    description = (
        "Table 2 as CSV (Top-1, Top-5), the rate-accuracy points of Figure 3, their "
        "Bjøntegaard summaries, per-class accuracy and inference cost."
    )
    outputs = (
        "table_top1.csv",
        "table_top5.csv",
        "table_top1_ci95.csv",
        "table_top5_ci95.csv",
        "paired_tests.csv",
        "rate_accuracy.csv",
        "bd_summary.csv",
        "per_class_accuracy.csv",
        "inference_cost.csv",
    )

    def write(self, run_dir: Path, out_dir: Path) -> list[Path]:
        from jpegai_eval.reports.bd import bd_summary
        from jpegai_eval.reports.paired import paired_tests
        from jpegai_eval.reports.trust import top5_meaningful

        results = read_results(run_dir)
        per_image = read_per_image(run_dir)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        # Top-5 of a task with 5 classes or fewer is 100% everywhere: no table for it.
        meaningful = top5_meaningful(read_run_info(run_dir), per_image)
        metrics = ("top1", "top5") if meaningful else ("top1",)
        paths = [
            _write_csv(table(results, metric), out_dir / f"table_{metric}.csv", float_format="%.2f")
            for metric in metrics
        ]
        paths += [
            _write_csv(interval_table(results, metric), out_dir / f"table_{metric}_ci95.csv")
            for metric in metrics
        ]
        frames = {
            "paired_tests.csv": paired_tests(per_image),
            "rate_accuracy.csv": rate_accuracy(results),
            "bd_summary.csv": bd_summary(results),
            "per_class_accuracy.csv": per_class_accuracy(
                per_image, set(anchor_references(results)["anchor"])
            ),
            "inference_cost.csv": inference_cost(results),
        }
        for name, frame in frames.items():
            paths.append(_write_csv(frame, out_dir / name, index=False, float_format="%.6g"))
        return paths
