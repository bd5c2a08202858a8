"""How a ``bench.json`` reads: text tables for the terminal, display-ready tables for
the HTML report. The measurements themselves are :mod:`jpegai_eval.bench.measure`; the
report only reads the file, so this presentation lives with the reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict, cast

from jpegai_eval.framework.errors import UserError
from jpegai_eval.reports.bench_json import BenchResult, Judgement, QualityEntry

#: The file a run folder holds when ``jpegai-eval bench --run-dir`` was run on it.
BENCH_FILE = "bench.json"
SCHEMA = "jpegai-eval-bench/1"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, 4)


# ------------------------------------------------------------------- presentation


def _fmt(value: object, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _gmacs(macs: int | None) -> str:
    return "-" if macs is None else f"{macs / 1e9:.2f}"


class Table(TypedDict):
    """One display table: cells are strings, ready for text or HTML."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str]


def summary_tables(result: BenchResult) -> list[Table]:
    """The result as display tables, one per comparison, in a fixed order."""
    qualities = result.get("qualities", {})
    tables = [t for q, entry in qualities.items() for t in _inference_tables(q, entry)]
    tables += [t for q, entry in qualities.items() for t in _metric_tables(q, entry)]
    for section in (_classifier_tables, _encode_tables, _training_tables):
        tables += section(result)
    return tables


def _inference_tables(q: str, entry: QualityEntry) -> list[Table]:
    inference = entry.get("inference")
    if not inference:
        return []
    macs = inference["macs"]["stages"]
    tables: list[Table] = []
    for batch, b in inference["batches"].items():
        pipelines = b["pipelines"]
        stage_names: list[str] = []
        for p in pipelines.values():
            for s in p["per_image"]:
                if s != "total" and s not in stage_names:
                    stage_names.append(s)
        rows = []
        for s in [*stage_names, "total"]:
            row = [s, _gmacs(macs.get(s)) if s != "total" else "-"]
            for p in pipelines.values():
                st = p["per_image"].get(s)
                row.append(f"{st['median_ms']:.1f}" if st else "")
            rows.append(row)
        r = b["pixel_over_compressed"]
        tables.append(
            {
                "title": f"Inference per image, quality {q}, batch {batch} "
                f"(median ms of {b['reps']} reps)",
                "columns": ["stage", "GMACs", *pipelines],
                "rows": rows,
                "notes": [
                    "pixel / compressed: "
                    + ", ".join(f"{k} {_fmt(v, 2)}" for k, v in r.items())
                    + "; MACs pixel / compressed "
                    + _fmt(inference["macs"]["pixel_over_compressed"], 2),
                    f"weights: {entry['weights'].split(' (')[0]}; bitstreams "
                    f"{_fmt(entry.get('bitstreams', {}).get('bpp_mean'), 3)} bpp",
                ],
            }
        )
    return tables


def _metric_tables(q: str, entry: QualityEntry) -> list[Table]:
    cost = entry.get("metrics")
    if not cost:
        return []
    rows = []
    for metric, info in cost["metrics"].items():
        if "unavailable" in info:
            rows.append([metric, "unavailable", ""])
        else:
            rows.append([metric, f"{info['ms_per_image']:.1f}", f"{info['ms_per_mpx']:.0f}"])
    notes = [
        f"the {name} set: {_fmt(st['ms_per_image'], 1)} ms per image, "
        f"{_fmt(st['over_encode'], 2)} x the codec's encode time "
        f"({_fmt(cost['encode_ms_per_image'], 1)} ms)"
        for name, st in cost["sets"].items()
    ]
    title = (
        f"Metric cost, quality {q}, {cost['size']}x{cost['size']} images "
        f"(median of {cost['reps']} passes over {cost['images']} images)"
    )
    columns = ["metric", "ms per image", "ms per megapixel"]
    return [{"title": title, "columns": columns, "rows": rows, "notes": notes}]


def _classifier_tables(result: BenchResult) -> list[Table]:
    clf = result.get("classifiers")
    if not clf:
        return []
    rows = []
    for batch, b in clf["batches"].items():
        for name in ("resnet50", "cresnet39"):
            rows.append(
                [
                    name,
                    batch,
                    _gmacs(clf["macs"].get(name)),
                    f"{b['models'][f'{name}/onnxruntime']['median_ms']:.1f}",
                    f"{b['models'][f'{name}/torch']['median_ms']:.1f}",
                    _fmt(b["torch_over_onnxruntime"][name], 2),
                ]
            )
    title = (
        f"Classifiers per image (onnxruntime {clf['provider']} vs PyTorch "
        f"eager on {clf['torch_device']})"
    )
    columns = ["model", "batch", "GMACs", "onnxruntime ms", "torch ms", "torch / ort"]
    return [{"title": title, "columns": columns, "rows": rows, "notes": []}]


def _encode_tables(result: BenchResult) -> list[Table]:
    enc = result.get("encode")
    if not enc:
        return []
    p = enc["per_image"]
    rows = [
        ["CompressAI compress (tensor)", f"{p['compressai_compress']['median_ms']:.1f}", ""],
        [
            "plugin encode (image -> .jai)",
            f"{p['plugin_encode']['median_ms']:.1f}",
            _fmt(enc["overhead"], 3),
        ],
    ]
    st = enc["encode_stage"]
    for w, info in st["workers"].items():
        rows.append(
            [
                f"encode stage, {w} worker(s), images/s",
                f"{_fmt(info['images_per_s_excluding_startup'], 2)} excl. / "
                f"{_fmt(info['images_per_s_including_startup'], 2)} incl. start-up",
                "",
            ]
        )
    raw = st.get("raw_compressai")
    if raw:
        rows.append(
            ["CompressAI compress + decompress loop, images/s", _fmt(raw["images_per_s"], 2), ""]
        )
        rows.append(
            [
                "encode stage (1 worker) / compress + decompress loop",
                "",
                _fmt(st.get("over_raw"), 3),
            ]
        )
    speed = st.get("speedup_2_over_1") or {}
    notes = [
        "2 / 1 workers: "
        + ", ".join(f"{k.replace('_', ' ')} {_fmt(v, 2)}" for k, v in speed.items())
    ]
    title = f"Encode, quality {enc['quality']} ({enc['images']} images)"
    columns = ["what", "median ms / throughput", "ratio"]
    return [{"title": title, "columns": columns, "rows": rows, "notes": notes}]


def _training_tables(result: BenchResult) -> list[Table]:
    trained = result.get("training")
    if not trained:
        return []
    loader, train = trained["loader_per_core"], trained["train_over_bare"]
    ips, tps = loader["images_per_s"], train["images_per_s"]
    rows = [
        [
            "loader before: PNG decoded every epoch, step-by-step augmentation",
            _fmt(ips["decoded_every_epoch"], 1),
            "",
        ],
        [
            "loader today: decode-once rows, tabled float steps",
            _fmt(ips["decode_once"], 1),
            _fmt(loader["decode_once_over_old"], 2),
        ],
        [f"bare PyTorch loop, {train['model']}", _fmt(tps["bare"], 2), ""],
        [
            "framework train_classifier, loading included",
            _fmt(tps["framework"], 2),
            _fmt(train["with_loading"], 3),
        ],
        ["its loading alone (item, augmentation, collate)", _fmt(tps["loading"], 1), ""],
        ["framework, loading taken out (derived)", "", _fmt(train["value"], 3)],
        [
            "bare loop, fast kernels (the mode's cost: bare / this)",
            _fmt(tps.get("bare_fast_kernels"), 2),
            _fmt(train.get("deterministic_over_fast_kernels"), 3),
        ],
    ]
    notes = [
        f"loader: {loader['images']} images of {loader['image_size']} px, "
        f"{loader['preset']} augmentation (resize {loader['resize']}), 1 thread, no "
        f"workers, median of {loader['reps']} passes; same batches: "
        f"{_fmt(loader['same_batches'])}",
        f"training: {train['preset']} preset (width {train['width']}, "
        f"{train['input_size']} px), batch {train['batch']}, {train['steps']} steps, "
        f"median of {train['reps']} reps on {train['device']}",
    ]
    return [
        {
            "title": "Training loader per core and training loop (images/s)",
            "columns": ["what", "images/s", "ratio"],
            "rows": rows,
            "notes": notes,
        }
    ]


class TargetRow(Judgement):
    """A target as the report lists it: its name, then its :class:`Judgement`."""

    name: str


def target_rows(result: BenchResult) -> list[TargetRow]:
    return [
        TargetRow(
            name=name,
            value=t["value"],
            target=t["target"],
            op=t["op"],
            passed=t["passed"],
            what=t["what"],
        )
        for name, t in result.get("targets", {}).items()
    ]


def _texts(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def machine_line(result: BenchResult) -> str:
    m: Mapping[str, object] = result.get("machine") or {}
    return (
        f"{m.get('cpu_count')} CPUs ({m.get('processor')}), "
        f"{'GPU ' + str(m['cuda']) if m.get('cuda') else 'no GPU'}, {m.get('threads')} threads, "
        f"torch {m.get('torch')}, onnxruntime {m.get('onnxruntime')} "
        f"({', '.join(_texts(m.get('ort_providers')))}), "
        + (f"rANS decoder {m['rans_decoder']}, " if m.get("rans_decoder") else "")
        + f"OMP_WAIT_POLICY {m.get('OMP_WAIT_POLICY') or 'unset'}, "
        + f"load {m.get('load_average_start')} -> "
        f"{m.get('load_average_end')}"
    )


class BenchReport(TypedDict):
    """What the HTML report shows of a ``bench.json``."""

    title: str
    created: str | None
    machine: str
    codec: str | None
    seconds: float | None
    targets: list[TargetRow]
    tables: list[Table]


def bench_summary_for_report(json_path: str | os.PathLike[str]) -> BenchReport:
    """What the HTML report shows for a run folder's ``bench.json``::

        {"title", "created", "machine", "codec", "seconds",
         "targets": [{"name", "what", "value", "op", "target", "passed"}],
         "tables": [{"title", "columns", "rows", "notes"}]}

    Every cell of ``rows`` is a string. Raises UserError for an unreadable file.
    """
    path = Path(json_path)
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(
            f"Cannot read benchmark results {str(path)!r} ({type(exc).__name__}: {exc}). "
            "Write them again with `jpegai-eval bench --run-dir RUN`."
        ) from None
    if not isinstance(result, dict) or result.get("schema") != SCHEMA:
        raise UserError(
            f"{str(path)!r} is not a jpegai-eval benchmark file (schema "
            f"{result.get('schema') if isinstance(result, dict) else None!r}, expected "
            f"{SCHEMA!r}). Write it again with `jpegai-eval bench --run-dir RUN`."
        )
    bench = cast(BenchResult, result)  # a bench.json of this schema, as written
    return BenchReport(
        title="Inference and encode cost (jpegai-eval bench)",
        created=bench.get("created"),
        machine=machine_line(bench),
        codec=bench.get("codec"),
        seconds=bench.get("seconds"),
        targets=target_rows(bench),
        tables=summary_tables(bench),
    )


def format_report(result: BenchResult) -> str:
    """The result as plain text: one table per comparison, then the targets."""
    lines = [f"jpegai-eval bench: {result.get('codec')}; {machine_line(result)}", ""]
    for table in summary_tables(result):
        lines.append(table["title"])
        cols = [table["columns"], *table["rows"]]
        widths = [max(len(str(r[i])) for r in cols) for i in range(len(table["columns"]))]
        for k, row in enumerate(cols):
            cells = [
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  " + "  ".join(cells))
            if k == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        lines.extend(f"  {note}" for note in table["notes"])
        lines.append("")
    lines.append("Targets")
    for t in target_rows(result):
        verdict = {True: "pass", False: "MISS", None: "not measured"}[t["passed"]]
        lines.append(
            f"  {t['name']:22s} {_fmt(t['value'], 3):>7s} {t['op']} {t['target']:<5}  "
            f"{verdict:12s} {t['what']}"
        )
    lines.append(f"({result.get('seconds')} s)")
    return "\n".join(lines)
