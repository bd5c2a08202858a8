"""The self-contained HTML report: one ``report.html`` per run folder.

Everything is inline -- CSS, plots (SVG from :mod:`.plots`), images (base64 PNG data
URIs) -- and the page has no script and no reference outside itself, so it opens from
a ``file://`` URL on a machine without network and can be mailed as one file.

Sections follow the paper: run summary; Table 2 (Top-1, Top-5); Figure 3 (accuracy vs
bpp, PSNR and SSIM; Bjøntegaard summaries); Figure 2 (test images, decoded at each
quality, with channel-summed y_hat and sigma_hat); per-class accuracy; inference cost
of the pixel and compressed pipelines.

Every string that comes from data (class names, file names, codec and anchor ids
from plugins, run.json values) goes through :func:`e` (``html.escape``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.types import ReportOptions, ReportWriter
from jpegai_eval.framework.io.image_io import atomic_write_bytes
from jpegai_eval.reports import plots, tables, trust
from jpegai_eval.reports.markup import e, html_table, num, pct

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Test images shown in Figure 2 (one per class, the first classes of the test split).
FIGURE2_IMAGES = 2
THUMB = 128  # displayed size (CSS px) of Figure 2 images

CSS = (
    """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; margin: 0; color: #1b1f24; background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.5em; border-bottom: 1px solid #d0d7de;
     padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin: 1.1em 0 0.4em; }
nav a { margin-right: 1em; }
.side { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.side > div { max-width: 100%; }
.muted { color: #57606a; }
.ci { color: #57606a; font-size: 0.8em; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
th.group { text-align: center; }
tr.sub th { font-weight: 500; text-align: right; }
dl.summary { display: grid; grid-template-columns: max-content 1fr max-content 1fr;
              gap: 2px 16px; }
dl.summary dd.wide { grid-column: 2 / 5; }
dl.summary dd.wide + dt, dl.summary dt:has(+ dd.wide) { grid-column: 1; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
figure { margin: 0.6em 0 1.2em; }
figcaption { color: #57606a; font-size: 0.92em; margin-top: 0.3em; }
svg.plot { width: 100%; height: auto; max-width: 1100px; display: block; }
.examples { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start;
            margin-bottom: 8px; }
.tile { display: flex; gap: 3px; align-items: flex-start; }
.tile figure { margin: 0; }
.tile img.main { width: @THUMB@px; height: @THUMB@px; }
.maps { display: flex; flex-direction: column; gap: 3px; }
.maps img { width: @HALF@px; height: @HALF@px; }
img { image-rendering: pixelated; border: 1px solid #d0d7de; }
.caption { font-size: 0.8em; color: #57606a; max-width: @WIDE@px; }
.note { background: #fff8c5; border: 1px solid #d4a72c; padding: 6px 10px; }
.warnings { background: #fff1f0; border: 2px solid #cf222e; padding: 4px 14px; }
.warnings h2 { color: #cf222e; margin-top: 8px; }
/* Tables fit the page: long cells (notes, references) wrap instead of overflowing. */
table { max-width: 100%; }
th, td { white-space: normal; overflow-wrap: break-word; }
@media print {
  nav { display: none; }
  main { max-width: none; padding: 0; }
  .scroll { overflow: visible; }
  table, figure, .tile { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  svg.plot { max-width: 100%; }
  th, td { padding: 2px 4px; font-size: 9pt; }
}
""".replace("@THUMB@", str(THUMB))
    .replace("@HALF@", str((THUMB - 3) // 2))
    .replace("@WIDE@", str(THUMB + THUMB // 2))
)


def png_data_uri(image: Any) -> str:
    """A PIL image as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grouped_table(frame: pd.DataFrame, fmt: Callable[[Any], str] = pct, table_id: str = "") -> str:
    """A DataFrame whose columns are (group, sub) pairs, as a table with a two-row
    header: each group once, spanning its subcolumns (Table 2's layout)."""
    groups: list[tuple[str, int]] = []
    for group, _ in frame.columns:
        if groups and groups[-1][0] == group:
            groups[-1] = (group, groups[-1][1] + 1)
        else:
            groups.append((group, 1))
    top = "".join(f'<th class="group" colspan="{n}">{e(g)}</th>' for g, n in groups)
    sub = "".join(f"<th>{e(q)}</th>" for _, q in frame.columns)
    body = []
    for index, row in frame.iterrows():
        cells = "".join(f"<td>{fmt(v)}</td>" for v in row)
        body.append(f"<tr><th>{e(index)}</th>{cells}</tr>")
    ident = f' id="{e(table_id)}"' if table_id else ""
    return (
        f'<div class="scroll"><table{ident}><thead><tr><th rowspan="2">'
        f'{e(frame.index.name or "")}</th>{top}</tr><tr class="sub">{sub}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def table2_frame(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Table 2 as fractions with (codec/backend, qN) columns."""
    frame = tables.table(results, metric) / 100
    coded = tables.coded_rows(results).drop_duplicates(["codec", "backend", "quality"])
    pairs = [
        (f"{c}/{b}", f"q{int(q)}")
        for c, b, q in zip(coded["codec"], coded["backend"], coded["quality"], strict=True)
    ]
    if len(pairs) == len(frame.columns):
        frame.columns = pairs
    else:  # no codec rows: one "original" column
        frame.columns = [("original images", "") for _ in frame.columns]
    return frame


# ----------------------------------------------------------------------------- sections


def task_options_text(config: dict[str, Any]) -> str:
    """The task's options as run.json recorded them (``name=value``, defaults included);
    run folders written before tasks owned their options kept dataset, data_root, split."""
    options = config.get("task_options")
    if options is None:
        options = {k: config[k] for k in ("dataset", "data_root", "split") if k in config}
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "none"


def summary_section(run_dir: Path, info: dict[str, Any], results: pd.DataFrame) -> str:
    config = info.get("config", {})
    n_test = results["n_test"].dropna() if "n_test" in results else []
    items: list[tuple[str, str]] = [
        ("Run folder", e(Path(run_dir).resolve())),
        (
            "Codecs",
            e(", ".join(config.get("codecs", []) or sorted(set(results["codec"]) - {"original"}))),
        ),
        (
            "Qualities",
            e(
                "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in info["qualities"].items())
                if info.get("qualities")
                else ", ".join(str(q) for q in (config.get("qualities") or [])) or "codec defaults"
            ),
        ),
        ("Task", e(config.get("task", ""))),
        ("Task options", e(task_options_text(config))),
        ("Test images", e(int(max(n_test))) if len(n_test) else "–"),
        ("Preset", e(config.get("preset", ""))),
        ("Classifier init", e(info.get("classifier_init") or "–")),
        ("Weights", e(config.get("weights") or "default")),
        ("Device / provider", f"{e(info.get('device', '?'))} / {e(info.get('provider', '?'))}"),
        ("Started", e(info.get("started", "?"))),
        ("Finished", e(info.get("finished", "not finished"))),
        (
            "Duration",
            e(f"{float(info['duration_s']):.1f} s") if "duration_s" in info else "–",
        ),
        ("Invocations", e(len(info.get("invocations", [])) or 1)),
        ("Versions", e(", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items()))),
        ("Git commit", e(info.get("git_commit") or "unknown")),
    ]
    skipped = info.get("skipped_images") or {}
    if skipped:
        items.append(("Skipped images", e(f"{len(skipped)}: " + ", ".join(list(skipped)[:5]))))
    for note in info.get("notes") or []:
        items.append(("Note", e(note)))
    wide = {"Run folder", "Versions", "Note", "Skipped images", "Task options"}
    items = [i for i in items if i[0] not in wide] + [i for i in items if i[0] in wide]
    rows = "".join(
        f"<dt>{k}</dt><dd{' class=wide' if k in wide else ''}>{v}</dd>" for k, v in items
    )
    return f'<section id="summary"><h2>Run summary</h2><dl class="summary">{rows}</dl></section>'


def warnings_section(
    info: dict[str, Any], results: pd.DataFrame, per_image: pd.DataFrame | None
) -> str:
    """A banner above everything for each reason not to trust this run's numbers
    (:mod:`jpegai_eval.reports.trust`); empty when there is none."""
    found = trust.warnings_for(info, results, per_image)
    if not found:
        return ""
    items = "".join(f"<li>{e(w)}</li>" for w in found)
    return (
        '<section id="warnings" class="warnings" role="alert"><h2>Read this first</h2>'
        f"<ul>{items}</ul></section>"
    )


def with_interval(cell: Any) -> str:
    """A Table 2 cell: the accuracy and, smaller, its 95 % interval."""
    value, low, high = cell
    if pct(low) == "–" or pct(high) == "–":
        return pct(value)
    return f'{pct(value)}<span class="ci"> [{pct(low, 1)}, {pct(high, 1)}]</span>'


def table2_cells(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Table 2 with (value, low, high) cells, the interval from results.csv."""
    frame = table2_frame(results, metric).astype(object)
    bounds = [
        table2_frame(tables._with_metric(results, f"{metric}_ci95_{side}"), f"{metric}_ci95_{side}")
        for side in ("low", "high")
    ]
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            frame.iat[i, j] = (frame.iat[i, j], bounds[0].iat[i, j], bounds[1].iat[i, j])
    return frame


def table2_section(results: pd.DataFrame, metrics: tuple[str, ...] = ("top1", "top5")) -> str:
    names = " and ".join({"top1": "Top-1", "top5": "Top-5"}[m] for m in metrics)
    parts = [
        f'<section id="table2"><h2>Table 2: {names} accuracy (%)</h2>',
        '<p class="muted">Rows: anchors; columns: codec × quality. Anchor 3 classifies '
        "the original images, so its row repeats one value. In brackets: the 95% Wilson "
        "confidence interval over the test images; paired tests are in "
        '<a href="#paired">Paired comparisons</a>.</p>',
    ]
    parts.append('<div class="side">')
    if "top5" not in metrics:
        parts.append(
            '<p class="muted" id="no-top5">Top-5 is not shown: with 5 classes or fewer '
            "every image is in its top 5.</p>"
        )
    for metric, title in (("top1", "Top-1 accuracy (%)"), ("top5", "Top-5 accuracy (%)")):
        if metric not in metrics:
            continue
        frame = table2_cells(results, metric)
        parts.append(
            f"<div><h3>{title}</h3>"
            + grouped_table(frame, fmt=with_interval, table_id=f"table-{metric}")
            + "</div>"
        )
    parts.append("</div>")
    fidelity = tables.rate_accuracy(results).drop_duplicates(["codec", "backend", "quality"])
    if len(fidelity):
        frame = fidelity.set_index(
            [
                [
                    tables.column_label(c, b, q)
                    for c, b, q in zip(
                        fidelity["codec"], fidelity["backend"], fidelity["quality"], strict=True
                    )
                ]
            ]
        )[["bpp", "psnr", "ssim", "ms_ssim"]]
        frame.index.name = "codec × quality (test split means)"
        frame.columns = ["bpp", "PSNR (dB)", "SSIM", "MS-SSIM"]
        parts.append(
            "<h3>Rate and fidelity</h3>"
            + html_table(frame, fmt=lambda v: num(v, "{:.3f}"), table_id="table-fidelity")
        )
    parts.append("</section>")
    return "".join(parts)


def figure3_section(results: pd.DataFrame, metrics: tuple[str, ...] = ("top1", "top5")) -> str:
    from jpegai_eval.reports.bd import MIN_POINTS, bd_summary

    points = tables.rate_accuracy(results)
    references = tables.anchor_references(results)
    parts = ['<section id="figure3"><h2>Figure 3: accuracy vs rate and fidelity</h2>']
    if points.empty:
        parts.append(
            '<p class="note">No codec × quality rows in results.csv: nothing to plot.</p></section>'
        )
        return "".join(parts)
    for x, label in plots.X_AXES.items():
        svg = plots.rate_accuracy_figure(points, references, x, f"fig3-{x}", metrics)
        which = "Top-1 (top) and Top-5 (bottom)" if "top5" in metrics else "Top-1"
        parts.append(
            f"<figure><figcaption>{which} accuracy vs "
            f"{e(label)}; one curve per anchor and codec (colour: codec; line style and "
            "marker: anchor), error bars: 95% Wilson intervals over the test images, "
            "nudged apart where curves share an x; grey dashed lines (shaded: their "
            f"intervals): anchors on original images.</figcaption>{svg}</figure>"
        )
    summary = bd_summary(results)
    parts.append("<h3>Bjøntegaard summaries</h3>")
    if summary.empty:
        parts.append(
            f'<p class="muted" id="bd-none">No codec has {MIN_POINTS} or more '
            "qualities in this run, so no Bjøntegaard summary is computed (run "
            f"with at least {MIN_POINTS} --quality values).</p>"
        )
    else:
        parts.append(
            '<p class="muted">BD-accuracy: average accuracy difference (test − reference, '
            "percentage points) over the common log-bpp range. BD-rate: average bpp "
            "difference at equal accuracy (% of the reference; negative = fewer bits). "
            "Piecewise cubic (PCHIP) interpolation, from the <code>bjontegaard</code> "
            "package.</p>"
        )
        frame = summary.set_index("comparison")
        parts.append(html_table(frame, fmt=_bd_cell, table_id="table-bd"))
    parts.append("</section>")
    return "".join(parts)


def paired_section(per_image: pd.DataFrame | None, results: pd.DataFrame) -> str:
    """McNemar's exact test for the paper's comparisons, and what the test set resolves."""
    from jpegai_eval.reports.paired import ALPHA, paired_tests, resolution_note

    tests = paired_tests(per_image)
    sizes = sorted({int(n) for n in results.get("n_test", []) if n == n and n})
    parts = [
        '<section id="paired"><h2>Paired comparisons</h2>',
        f'<p class="muted" id="paired-note">{e(resolution_note(sizes[0] if sizes else 0))}</p>',
    ]
    if tests.empty:
        parts.append('<p class="note">No two anchors were evaluated on the same images.</p>')
    else:
        body = []
        for _, t in tests.iterrows():
            verdict = f"{e(t['b'])} better" if t["difference_points"] > 0 else f"{e(t['a'])} better"
            verdict = verdict if t["significant"] else "not resolved"
            body.append(
                f"<tr><th>{e(tables.column_label(t['codec'], t['backend'], t['quality']))}</th>"
                f"<td>{e(t['a'])} vs {e(t['b'])}</td><td>{pct(t['a_top1'])}</td>"
                f"<td>{pct(t['b_top1'])}</td><td>{t['only_a_right']} / {t['only_b_right']}</td>"
                f"<td>{t['difference_points']:+.2f}</td><td>{t['p_value']:.3g}</td>"
                f"<td>{verdict}</td></tr>"
            )
        parts.append(
            '<div class="scroll"><table id="table-paired"><thead><tr><th>codec × quality</th>'
            "<th>A vs B</th><th>A Top-1 %</th><th>B Top-1 %</th><th>only A / only B right</th>"
            "<th>B − A (points)</th><th>p (McNemar, exact)</th>"
            f"<th>at {100 * ALPHA:g}%</th></tr></thead><tbody>{''.join(body)}</tbody>"
            "</table></div>"
        )
    parts.append("</section>")
    return "".join(parts)


def _bd_cell(value: Any) -> str:
    if isinstance(value, float):
        return num(value, "{:+.2f}") if not math.isnan(value) else "–"
    return e(value)


# ------------------------------------------------------------------------- Figure 2


def run_file(run_dir: Path, row: Any, column: str) -> Path | None:
    """The file a per_image.csv ``column`` names for ``row``, relative to the run folder;
    None when the column is empty or absent, or names no file inside the run folder."""
    value = row.get(column) if hasattr(row, "get") else None
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    path = Path(run_dir) / str(value)
    return path if path.is_file() and inside(run_dir, path) is not None else None


def latent_map(array: np.ndarray) -> Any:
    """Channel-summed (C, h, w) -> a viridis PIL image (Figure 2's y_hat / sigma_hat)."""
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    summed = np.asarray(array, dtype=np.float64).sum(axis=0)
    lo, hi = float(summed.min()), float(summed.max())
    scaled = (summed - lo) / (hi - lo) if hi > lo else np.zeros_like(summed)
    rgb = (colormaps["viridis"](scaled)[..., :3] * 255).astype(np.uint8)
    return Image.fromarray(rgb)


def inside(base: Path, path: Path) -> Path | None:
    """``path`` when it resolves (symlinks followed) to a place under ``base``, else
    None: a run folder names images by id, and must not make the report embed any other
    local file."""
    try:
        real = Path(path).resolve()
        return path if real.is_relative_to(Path(base).resolve()) else None
    except (OSError, RuntimeError):
        return None


def _thumb(path: Path | None) -> str | None:
    from PIL import Image

    if path is None:
        return None
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((2 * THUMB, 2 * THUMB))
            return png_data_uri(img)
    except (OSError, ValueError, Image.DecompressionBombError):
        # unreadable, or larger than Pillow's pixel limit: the tile says it is missing
        return None


def figure2_section(
    run_dir: Path, info: dict[str, Any], per_image: pd.DataFrame | None, results: pd.DataFrame
) -> str:
    import numpy as np

    parts = ['<section id="figure2"><h2>Figure 2: test images, decoded at each quality</h2>']
    if per_image is None or per_image.empty:
        parts.append('<p class="note">No per_image.csv in the run folder.</p></section>')
        return "".join(parts)
    parts.append(
        '<p class="muted">Original, then each codec from the highest to the lowest '
        "quality, with bpp, PSNR and SSIM of that image; beside a decoded image with a "
        "compressed domain: the channel-summed ŷ (top) and σ̂ (bottom), viridis, each "
        "scaled to its own range.</p>"
    )
    test = per_image[per_image["split"] == "test"] if "split" in per_image else per_image
    chosen = test.drop_duplicates("label").head(FIGURE2_IMAGES)["image_id"].tolist()
    coded = tables.coded_rows(results).drop_duplicates(["codec", "backend", "quality"])
    for image_id in chosen:
        rows = test[test["image_id"] == image_id]
        label = rows["label"].iloc[0]
        # Only files inside the run folder are embedded: a copy of the original, the
        # cache entries per_image.csv names (never a path leading out of the run folder).
        first = rows.iloc[0]
        original = _thumb(run_file(run_dir, first, "original_copy"))
        original_tile = _tile(
            original,
            f"original · {e(label)}",
            None,
            "original image not copied into the run folder" if original is None else "",
        )
        codec_rows = []
        for codec, group in coded.groupby(["codec", "backend"], sort=False):
            tiles = [original_tile]  # one row per codec: original, then high to low
            for quality in sorted(group["quality"].astype(int), reverse=True):
                match = rows[
                    (rows["codec"] == codec[0])
                    & (rows["backend"] == codec[1])
                    & (rows["quality"] == quality)
                ]
                m = match.iloc[0] if len(match) else {}
                decoded = _thumb(run_file(run_dir, m, "decoded"))
                maps = None
                latents_path = run_file(run_dir, m, "latents")
                if latents_path is not None:
                    try:
                        with np.load(latents_path, allow_pickle=False) as latents:
                            if "y_hat" in latents and "sigma_hat" in latents:
                                maps = (
                                    png_data_uri(latent_map(latents["y_hat"])),
                                    png_data_uri(latent_map(latents["sigma_hat"])),
                                )
                    except (OSError, ValueError, zipfile.BadZipFile):
                        maps = None  # a damaged cache entry only drops the latent maps
                caption = (
                    f"{e(codec[0])}/{e(codec[1])} q{quality}<br>"
                    f"{num(m.get('bpp'), '{:.3f}')} bpp · "
                    f"PSNR {num(m.get('psnr'))} dB<br>SSIM {num(m.get('ssim'), '{:.3f}')}"
                )
                tiles.append(
                    _tile(
                        decoded,
                        caption,
                        maps,
                        "decoded image not in the cache" if decoded is None else "",
                    )
                )
            codec_rows.append(f'<div class="examples">{"".join(tiles)}</div>')
        if not codec_rows:
            codec_rows.append(f'<div class="examples">{original_tile}</div>')
        # The caption comes first: it titles the images below it (issue 27).
        parts.append(
            f'<figure class="figure2"><figcaption>{e(image_id)} (class {e(label)})'
            f"</figcaption>{''.join(codec_rows)}</figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def _tile(uri: str | None, caption: str, maps: tuple[str, str] | None, missing: str) -> str:
    if uri is None:
        image = f'<div class="caption note">{e(missing)}</div>'
    else:
        image = f'<img class="main" src="{uri}" alt="">'
    side = ""
    if maps is not None:
        side = (
            f'<div class="maps"><img src="{maps[0]}" alt="y_hat" title="ŷ summed over '
            f'channels"><img src="{maps[1]}" alt="sigma_hat" title="σ̂ summed over '
            'channels"></div>'
        )
    return (
        f'<figure><div class="tile">{image}{side}</div>'
        f'<div class="caption">{caption}</div></figure>'
    )


# ----------------------------------------------------------------- per class, cost


def per_class_section(per_image: pd.DataFrame | None, results: pd.DataFrame) -> str:
    parts = ['<section id="per-class"><h2>Per-class Top-1 accuracy (%)</h2>']
    long = tables.per_class_accuracy(per_image, set(tables.anchor_references(results)["anchor"]))
    if long.empty:
        parts.append('<p class="note">No predictions in per_image.csv.</p></section>')
        return "".join(parts)
    long = long.copy()
    long["column"] = [
        (a, "original") if c == "" else (f"{a} · {c}/{b}", f"q{int(q)}")
        for a, c, b, q in zip(
            long["anchor"], long["codec"], long["backend"], long["quality"], strict=True
        )
    ]
    order = sorted(dict.fromkeys(long["column"]), key=lambda c: c[1] != "original")
    long["column"] = [order.index(c) for c in long["column"]]
    frame = long.pivot_table(index="class", columns="column", values="top1", sort=True)
    frame.columns = [order[i] for i in frame.columns]
    counts = long.groupby("class")["n"].max()
    frame.index = [f"{name} (n={int(counts[name])})" for name in frame.index]
    frame.index.name = "class (test images)"
    parts.append(
        '<p class="muted">Top-1 accuracy of each anchor on the test images of each '
        "class (label vs the anchor's prediction in per_image.csv).</p>"
    )
    parts.append(grouped_table(frame, fmt=_heat, table_id="table-per-class"))
    parts.append("</section>")
    return "".join(parts)


def _heat(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(number):
        return "–"
    # white (0 %) to green (100 %), computed here: no data reaches the style attribute.
    light = int(100 - 40 * number)
    return f'<span style="background:hsl(130,55%,{light}%);padding:0 4px">{100 * number:.0f}</span>'


def cost_section(results: pd.DataFrame) -> str:
    cost = tables.inference_cost(results)
    parts = [
        '<section id="cost"><h2>Inference cost per image</h2>',
        '<p class="muted">Pixel pipeline: decode (entropy decode + g<sub>s</sub>) + '
        "ResNet-50. Compressed pipeline: latents (entropy decode + h<sub>s</sub>, no "
        "g<sub>s</sub>) + cResNet-39. Classifier times are ONNX Runtime, per image, on "
        "the provider in the summary; MACs per image.</p>",
    ]
    if cost.empty:
        parts.append("</section>")
        return "".join(parts)
    frame = cost.copy()
    frame.index = [
        f"{a} · {tables.column_label(c, b, q)}"
        if isinstance(q, float) and not math.isnan(q)
        else f"{a} (original images)"
        for a, c, b, q in zip(
            cost["anchor"], cost["codec"], cost["backend"], cost["quality"], strict=True
        )
    ]
    frame.index.name = "anchor · codec × quality"
    frame = frame[[c for c in tables.COST_COLUMNS if c not in COST_ROW_LABEL]]
    frame.columns = [
        "pipeline",
        "params (M)",
        "MACs (G)",
        "decode (ms)",
        "latents (ms)",
        "classifier (ms)",
        "total (ms)",
    ]
    frame["params (M)"] = frame["params (M)"] / 1e6
    frame["MACs (G)"] = frame["MACs (G)"] / 1e9
    parts.append(html_table(frame, fmt=_cost_cell, table_id="table-cost"))
    if cost["total_ms_per_image"].notna().any():
        parts.append(
            f"<figure>{plots.cost_figure(cost, 'fig-cost')}<figcaption>Time per "
            "test image: front end (decode or latents) + classifier.</figcaption>"
            "</figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def _cost_cell(value: Any) -> str:
    if isinstance(value, str):
        return e(value)
    return num(value, "{:.2f}")


# ---------------------------------------------------------------------------- page


#: Columns of inference_cost.csv that the cost table folds into its row label.
COST_ROW_LABEL = ("codec", "backend", "quality", "anchor", "classifier")

VERDICTS = {True: "met", False: "missed", None: "not measured"}


def bench_section(run_dir: Path) -> str:
    """The run's ``bench.json`` (written by ``jpegai-eval bench --run-dir``), if any."""
    from jpegai_eval.reports.bench_summary import BENCH_FILE, bench_summary_for_report

    path = run_dir / BENCH_FILE
    if not path.is_file():
        return ""
    bench = bench_summary_for_report(path)
    parts = [
        f'<section id="bench"><h2>{e(bench["title"])}</h2>',
        f'<p class="muted">{e(bench["codec"])}; {e(bench["machine"])}; measured '
        f"{e(bench['created'])}. Medians of interleaved repetitions; absolute times are "
        "only meaningful on a quiet machine or a GPU, ratios are what to compare.</p>",
    ]
    rows = "".join(
        f"<tr><th>{e(t['name'])}</th><td>{e(t['value'])}</td>"
        f"<td>{e(t['op'])} {e(t['target'])}</td>"
        f"<td>{VERDICTS[t.get('passed')]}</td><td>{e(t['what'])}</td></tr>"
        for t in bench["targets"]
    )
    parts.append(
        '<div class="scroll"><table id="bench-targets"><caption>Targets</caption><thead><tr>'
        "<th>target</th><th>measured</th><th>goal</th><th></th><th>what</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )
    for table in bench["tables"]:
        head = "".join(f"<th>{e(c)}</th>" for c in table["columns"])
        body = "".join(
            "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table["rows"]
        )
        notes = "".join(f'<p class="note">{e(n)}</p>' for n in table.get("notes", []))
        parts.append(
            f'<div class="scroll"><table><caption>{e(table["title"])}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{notes}"
        )
    parts.append("</section>")
    return "".join(parts)


def build_report(run_dir: Path, options: ReportOptions | None = None) -> str:
    """The whole page as a string."""
    from jpegai_eval.reports.bd_metrics import check_bd_anchor, wanted_anchor
    from jpegai_eval.reports.rd_html import rd_section

    run_dir = Path(run_dir)
    results = tables.read_results(run_dir)
    per_image = tables.read_per_image(run_dir)
    info = tables.read_run_info(run_dir)
    options = options or ReportOptions()
    check_bd_anchor(results, options.bd_anchor, run_dir)
    config = info.get("config", {})
    title = (
        f"jpegai-eval report: {', '.join(config.get('codecs', []))} on {config.get('task', '?')}"
    )
    generated = dt.datetime.now().isoformat(timespec="seconds")
    metrics = ("top1", "top5") if trust.top5_meaningful(info, per_image) else ("top1",)
    sections = [
        warnings_section(info, results, per_image),
        summary_section(run_dir, info, results),
        table2_section(results, metrics),
        paired_section(per_image, results),
        figure3_section(results, metrics),
        rd_section(run_dir, results, per_image, info, wanted_anchor(info, options)),
        figure2_section(run_dir, info, per_image, results),
        per_class_section(per_image, results),
        cost_section(results),
        bench_section(run_dir),
    ]
    nav = "".join(
        f'<a href="#{k}">{v}</a>'
        for k, v in (
            ("summary", "Summary"),
            ("table2", "Table 2"),
            ("paired", "Paired tests"),
            ("figure3", "Figure 3"),
            ("rd", "RD"),
            ("figure2", "Figure 2"),
            ("per-class", "Per class"),
            ("cost", "Cost"),
            *((("bench", "Benchmark"),) if (run_dir / "bench.json").is_file() else ()),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No favicon request: the page must not ask for anything outside itself.
        '<link rel="icon" href="data:,">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{e(title)}</h1><p class="muted">Generated {e(generated)} from '
        f"{e(run_dir.resolve())} by jpegai-eval.</p><nav>{nav}</nav>"
        + "".join(sections)
        + "</main></body></html>\n"
    )


class HtmlReportWriter(ReportWriter):
    id = "html-report"
    format = "html"
    description = "One self-contained report.html: summary, Table 2, Figures 2 and 3, cost."
    outputs = ("report.html",)

    def write(self, run_dir: Path, out_dir: Path) -> list[Path]:
        return self.write_with(run_dir, out_dir, ReportOptions())

    def write_with(self, run_dir: Path, out_dir: Path, options: ReportOptions) -> list[Path]:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "report.html"
        atomic_write_bytes(path, build_report(run_dir, options).encode("utf-8"))
        return [path]
