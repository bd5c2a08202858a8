"""The report's rate-distortion section: one RD panel per fidelity metric of the run
(small multiples, metric against bpp, one curve per codec) and ``bd_metrics.csv``'s
BD-rate table (per metric, and the task BD-rate at equal Top-1 with its interval)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

#: Codec colours (colour means the codec; Figure 3's anchors keep their own palette).
CODEC_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def rd_panels_figure(points: Any, metrics: dict[str, bool], element_id: str) -> str:
    """Small multiples: one panel per metric column (y) against bpp (x), one curve per
    codec; the legend sits outside the panels."""
    from jpegai_eval.reports import plots

    columns = list(metrics)
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig = plots.figure(10.5, 2.7 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    codecs = list(dict.fromkeys(points["label"]))
    for ax, column in zip(axes, columns, strict=False):
        for ci, codec in enumerate(codecs):
            curve = points[points["label"] == codec].sort_values("bpp")
            ax.plot(
                curve["bpp"],
                curve[column],
                marker=MARKERS[ci % len(MARKERS)],
                color=CODEC_COLORS[ci % len(CODEC_COLORS)],
                label=plots.plain(codec),
                markersize=4,
                linewidth=1.5,
            )
        arrow = "higher is better" if metrics[column] else "lower is better"
        ax.set_title(plots.plain(f"{column} ({arrow})"), fontsize=10)
        ax.set_xlabel("bpp", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(handles)),
                   fontsize=9, frameon=False)  # fmt: skip
    return plots.to_svg(fig, element_id, "Fidelity metrics against rate, one panel per metric")


def _bd_cell(value: Any) -> str:
    from jpegai_eval.reports.markup import e

    try:
        number = float(value)
    except (TypeError, ValueError):
        return e(value) if value not in (None, "") else "–"
    return "–" if math.isnan(number) else f"{number:+.1f}"


def rd_section(
    run_dir: Path, results: Any, per_image: Any, info: dict[str, Any], bd_anchor: str | None
) -> str:
    """The ``rd`` section of report.html, BD-rates against ``bd_anchor`` (see
    :func:`~jpegai_eval.reports.bd_metrics.wanted_anchor`)."""
    from jpegai_eval.reports.bd_metrics import _codec_points, bd_metrics, metric_columns
    from jpegai_eval.reports.markup import e, html_table

    parts = ['<section id="rd"><h2>Rate-distortion: every fidelity metric</h2>']
    points = _codec_points(results)
    metrics = metric_columns(results)
    if points.empty or not metrics:
        parts.append('<p class="note">No codec × quality rows with metrics.</p></section>')
        return "".join(parts)
    parts.append(
        "<figure><figcaption>Each fidelity metric of the run against bpp, one curve per "
        "codec (the JPEG AI metrics are computed as its verification model computes "
        "them: BT.709 full-range YUV 4:4:4 at 10 bits).</figcaption>"
        f"{rd_panels_figure(points, metrics, 'rd-panels')}</figure>"
    )
    table = bd_metrics(results, per_image, bd_anchor)
    parts.append("<h3>BD-rate against the anchor codec (%)</h3>")
    if table.empty:
        parts.append(
            '<p class="muted" id="bd-metrics-none">One codec only: no BD-rate (run two '
            "codecs or more, with four qualities or more each).</p></section>"
        )
        return "".join(parts)
    notes = [f"{r['codec']}: {r['note']}" for _, r in table.iterrows() if r.get("note")]
    frame = table.drop(columns=["note"]).set_index("codec")
    task = [c for c in frame.columns if c.startswith("task_top1_")]
    fidelity = frame.drop(columns=task)
    parts.append(
        f'<p class="muted">Reference: {e(table.iloc[0]["reference"])}. Average bpp '
        "difference at equal quality (negative = fewer bits; Bjøntegaard, PCHIP, the "
        "<code>bjontegaard</code> package); lower-is-better metrics are negated first.</p>"
    )
    parts.append(
        html_table(fidelity.drop(columns=["reference"]), fmt=_bd_cell, table_id="table-bd-metrics")
    )
    if task:
        anchors = sorted({c[len("task_top1_") :].split("_ci95")[0] for c in task})
        rows = []
        for codec, row in frame.iterrows():
            for anchor in anchors:
                name = f"task_top1_{anchor}"
                rows.append(
                    f"<tr><th>{e(codec)}</th><td>{e(anchor)}</td><td>{_bd_cell(row[name])}</td>"
                    f"<td>{_bd_cell(row[name + '_ci95_low'])} … "
                    f"{_bd_cell(row[name + '_ci95_high'])}</td></tr>"
                )
        parts.append(
            "<h3>Task BD-rate at equal Top-1 (%)</h3>"
            '<div class="scroll"><table id="table-task-bd"><thead><tr><th>codec</th>'
            "<th>anchor</th><th>BD-rate</th><th>95% bootstrap interval</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    if notes:
        parts.append('<p class="muted">' + "<br>".join(e(n) for n in notes) + "</p>")
    parts.append("</section>")
    return "".join(parts)
