"""``jpegai-eval metrics ORIG DECODED``: the selected fidelity metrics of one image pair.

Thin: parse, read the two images, call :func:`pair_metrics`, print. ``--json`` prints
``{"psnr_y": ..., ...}`` with an ``"unavailable"`` object giving the reason of every
selected metric that cannot run here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from jpegai_eval.framework.api.metric_types import ImagePair, Metric, MetricValues
from jpegai_eval.framework.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])

METRICS_HELP = (
    "Which metrics: fast (psnr_rgb, ms_ssim_rgb, ssim_rgb, psnr_y), jpegai (JPEG AI's "
    "suite, as its verification model computes it), all, or a comma-separated list of ids."
)


def metrics_option(default: str = "fast") -> Callable[[F], F]:
    """The ``--metrics`` option, shared by the commands that take it."""
    return click.option(
        "--metrics", "metrics_spec", default=default, show_default=True, help=METRICS_HELP
    )


def resolve_metrics(spec: str) -> list[Metric]:
    """The registered metrics ``spec`` selects (``fast``, ``jpegai``, ``all``, ids)."""
    from jpegai_eval.framework.api.metric_types import select_metrics
    from jpegai_eval.framework.api.plugins import get_plugins

    return select_metrics(spec, get_plugins().metrics)


def read_pair(original: Path, decoded: Path) -> ImagePair:
    """The two files as an :class:`ImagePair` (8-bit RGB), refusing unreadable ones."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in (original, decoded):
        try:
            with Image.open(path) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except (OSError, UnidentifiedImageError) as exc:
            raise UserError(
                f"Cannot read {path} as an image ({type(exc).__name__}: {exc}). Give a "
                "PNG, JPEG or other file Pillow reads."
            ) from None
    return ImagePair(images[0], images[1], name=f"{original.name} vs {decoded.name}")


def pair_metrics(original: Path, decoded: Path, spec: str) -> MetricValues:
    """The metrics ``spec`` selects for one pair of image files. A metric that a set
    brings (``jpegai``, ``all``) and that cannot measure images of this size (VMAF under
    17 px) is listed as unavailable with the reason; one named by id is an error."""
    from dataclasses import replace

    from jpegai_eval.framework.api.metric_types import compute_metrics, spec_names

    pair = read_pair(original, decoded)
    named = set(spec_names(spec))
    metrics = []
    for metric in resolve_metrics(spec):
        problem = metric.size_problem(pair.height, pair.width)
        if problem and metric.id not in named and not metric.unavailable_reason:
            metric = replace(metric, unavailable_reason=f"the images are {problem}")
        metrics.append(metric)
    return compute_metrics(metrics, [pair])[0]


def _json_value(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


@click.command("metrics")
@click.argument("original", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("decoded", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@metrics_option()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def metrics_command(original: Path, decoded: Path, metrics_spec: str, as_json: bool) -> None:
    """Print the fidelity metrics of DECODED against ORIGINAL (8-bit RGB images)."""
    result = pair_metrics(original, decoded, metrics_spec)
    if as_json:
        # each metric's value (a non-finite one as text), then why others could not run
        out: dict[str, float | str | dict[str, str]] = {
            k: _json_value(v) for k, v in result.values.items()
        }
        if result.unavailable:
            out["unavailable"] = result.unavailable
        click.echo(json.dumps(out, indent=2))
        return
    for key, value in result.values.items():
        click.echo(f"{key:<12} {value:.6g}")
    for key, reason in result.unavailable.items():
        click.echo(f"{key:<12} unavailable: {reason}")
