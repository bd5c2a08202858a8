"""Figures of the HTML report, drawn with matplotlib and returned as inline SVG text.

matplotlib is used through its object API (``Figure`` + the SVG canvas), never
``pyplot``, so no global backend is switched and nothing opens a window. The SVG is
self-contained: text is drawn as glyph paths (the same on every machine, whatever
fonts the browser has), and the XML prolog
and DOCTYPE (which name a DTD URL) are stripped before inlining. Labels that come from
data are escaped for mathtext; matplotlib escapes them for XML.
"""

from __future__ import annotations

import io
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: x axes of Figure 3: column of rate_accuracy.csv -> axis label with its unit.
X_AXES = {
    "bpp": "Rate (bits per pixel, bpp)",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM (0..1)",
}
METRICS = {"top1": "Top-1 accuracy (%)", "top5": "Top-5 accuracy (%)"}
ANCHOR_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
CODEC_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v")]


def plain(text: Any) -> str:
    """Data text for a matplotlib label: ``$`` would start mathtext."""
    return str(text).replace("$", r"\$")


def figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96, layout="constrained")


def to_svg(fig: Figure, element_id: str, title: str) -> str:
    """The figure as an inline ``<svg>`` element with ``id``, ``role`` and a title."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": element_id}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    from html import escape

    svg = re.sub(
        r"<svg\b",
        f'<svg id="{escape(element_id)}" class="plot" role="img" aria-label="{escape(title)}"',
        svg,
        count=1,
    )
    # Fluid width: keep the aspect ratio from the viewBox.
    svg = re.sub(r'(<svg[^>]*?)\swidth="[^"]*"\sheight="[^"]*"', r"\1", svg, count=1)
    return svg


def anchor_colors(anchors: list[str]) -> dict[str, str]:
    return {a: ANCHOR_COLORS[i % len(ANCHOR_COLORS)] for i, a in enumerate(anchors)}


def error_bars(curve: pd.DataFrame, metric: str) -> Any:
    """The 95 % interval around each point as (below, above) in percent; None when the
    results carry no interval (runs written before intervals existed)."""
    low, high = f"{metric}_ci95_low", f"{metric}_ci95_high"
    if low not in curve or high not in curve or curve[[low, high]].isna().all().all():
        return None
    below = (100 * (curve[metric] - curve[low])).clip(lower=0).fillna(0)
    above = (100 * (curve[high] - curve[metric])).clip(lower=0).fillna(0)
    return [below.to_numpy(), above.to_numpy()]


def rate_accuracy_figure(
    points: pd.DataFrame,
    references: pd.DataFrame,
    x: str,
    element_id: str,
    metrics: tuple[str, ...] = tuple(METRICS),
) -> str:
    """Figure 3 for one x axis: a panel per metric (Top-1 above Top-5; Top-1 alone for
    a task of 5 classes or fewer), full width, one curve per anchor x codec -- colour by
    codec, line style and marker by anchor, error bars of curves sharing an x nudged
    apart -- and anchor 3 (no codec) as a horizontal grey reference line; the legend
    sits outside, on the right."""
    anchors = list(dict.fromkeys([*points["anchor"], *references["anchor"]]))
    anchor_style = {a: CODEC_STYLES[i % len(CODEC_STYLES)] for i, a in enumerate(anchors)}
    codecs = list(dict.fromkeys(points["codec"] + "/" + points["backend"]))
    codec_color = {c: ANCHOR_COLORS[i % len(ANCHOR_COLORS)] for i, c in enumerate(codecs)}
    several = len(codecs) > 1
    series = [
        (codec, anchor)
        for codec in codecs
        for anchor in dict.fromkeys(
            points[points["codec"] + "/" + points["backend"] == codec]["anchor"]
        )
    ]
    span = float(points[x].max() - points[x].min()) if len(points) else 0.0
    step = 0.008 * span if math.isfinite(span) and span > 0 else 0.0
    fig = figure(10.5, 3.3 * len(metrics))
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics, strict=True):
        ylabel = METRICS[metric]
        for k, (codec, anchor) in enumerate(series):
            style, marker = anchor_style[anchor]
            mine = points[(points["codec"] + "/" + points["backend"] == codec)]
            curve = mine[mine["anchor"] == anchor].sort_values(x)
            label = f"{anchor} · {codec}" if several else str(anchor)
            ax.errorbar(
                curve[x] + (k - (len(series) - 1) / 2) * step,
                100 * curve[metric],
                yerr=error_bars(curve, metric),
                linestyle=style,
                marker=marker,
                color=codec_color[codec],
                label=plain(label),
                markersize=5,
                linewidth=1.6,
                elinewidth=1.0,
                capsize=3,
            )
        for _, row in references.iterrows():
            if math.isfinite(float(row[metric])):
                ax.axhline(
                    100 * float(row[metric]),
                    color="#555555",
                    linestyle=(0, (2, 2)),
                    linewidth=1.2,
                    label=plain(f"{row['anchor']} (original images)"),
                )
                low, high = row.get(f"{metric}_ci95_low"), row.get(f"{metric}_ci95_high")
                if low is not None and high is not None and math.isfinite(float(low)):
                    ax.axhspan(100 * float(low), 100 * float(high), color="#555555", alpha=0.08)
        ax.set_xlabel(X_AXES[x])
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel.split(' (')[0]} vs {X_AXES[x].split(' (')[0]}", fontsize=11)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    names = " and ".join(METRICS[m].split(" (")[0] for m in metrics)
    return to_svg(fig, element_id, f"{names} vs {X_AXES[x]}")


def cost_figure(cost: pd.DataFrame, element_id: str) -> str:
    """Stacked horizontal bars: front end (decode, or latents) + classifier, ms/image."""
    rows = cost[cost["total_ms_per_image"].notna()].reset_index(drop=True)
    labels = [
        f"{r.anchor} · {r.codec}/{r.backend} q{int(r.quality)} ({r.pipeline})"
        if r.pipeline != "original"
        else f"{r.anchor} (original images)"
        for r in rows.itertuples()
    ]
    fig = figure(9.5, 0.8 + 0.32 * max(len(rows), 1))
    ax = fig.subplots()
    positions = list(range(len(rows)))[::-1]
    front = [
        (0.0 if math.isnan(d) else d) + (0.0 if math.isnan(la) else la)
        for d, la in zip(rows["decode_ms_per_image"], rows["latents_ms_per_image"], strict=True)
    ]
    infer = [0.0 if math.isnan(v) else v for v in rows["infer_ms_per_image"]]
    ax.barh(
        positions,
        front,
        color="#9ecae1",
        label="decode (entropy decode + g_s) or latents (entropy decode + h_s)",
    )
    ax.barh(positions, infer, left=front, color="#3182bd", label="classifier (ONNX Runtime)")
    ax.set_yticks(positions, [plain(t) for t in labels], fontsize=8)
    ax.set_xlabel("Time per image (ms)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return to_svg(fig, element_id, "Inference cost per image of each pipeline")
