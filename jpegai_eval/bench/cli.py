"""``jpegai-eval bench``: parse options, run the benchmarks, print the tables.

No torch import here: :mod:`jpegai_eval.bench.measure` is imported when the command
runs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from jpegai_eval.cli.options import offline_option
from jpegai_eval.framework.errors import UsageError


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise UsageError(f"{option} takes comma-separated integers such as 1,32; got {text!r}.")
    return values


@click.command("bench")
@click.option(
    "--codec", default="hyperprior-msssim", show_default=True, help="Codec id (or id/backend)."
)
@click.option(
    "--quality",
    "qualities",
    multiple=True,
    type=int,
    help="Quality; repeat for several [default: 1].",
)
@click.option(
    "--weights",
    default=None,
    help="Codec weights: demo, pretrained, a path, or zoo-random (the zoo's N and M for "
    "the quality, random init) [default: pretrained if on disk, else zoo-random].",
)
@click.option("--images", default=8, show_default=True, help="Images for the inference runs.")
@click.option("--size", default=362, show_default=True, help="Image side in pixels (MINC's: 362).")
@click.option(
    "--images-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Use these images (resized to --size) instead of synthetic textures.",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option("--threads", type=int, default=None, help="Threads [default: all cores].")
@click.option("--reps", default=10, show_default=True, help="Measured repetitions, batch 1.")
@click.option("--warmup", default=2, show_default=True, help="Discarded warm-up repetitions.")
@click.option("--batch", default="1,32", show_default=True, help="Batch sizes.")
@click.option("--batch-reps", default=3, show_default=True, help="Repetitions, larger batches.")
@click.option(
    "--encode-images", default=16, show_default=True, help="Images for the encode section."
)
@click.option("--encode-reps", default=3, show_default=True, help="Encode-stage repetitions.")
@click.option("--workers", default="1,2", show_default=True, help="Encode-stage worker counts.")
@click.option(
    "--only",
    default="inference,classifiers,encode,metrics,training",
    show_default=True,
    help="Sections to run.",
)
@click.option("--loader-images", default=32, show_default=True, help="Images for loader_per_core.")
@click.option(
    "--train-preset",
    type=click.Choice(["auto", "paper", "quick", "smoke"]),
    default="auto",
    show_default=True,
    help="Model, batch and augmentation of train_over_bare (auto: paper on CUDA, quick "
    "on the CPU).",
)
@click.option(
    "--train-batch",
    type=int,
    default=None,
    help="Batch of train_over_bare [default: the preset's].",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write every figure to this JSON file.",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Take codec, qualities and weights from this run's run.json; write "
    "RUN_DIR/bench.json (shown in its HTML report).",
)
@click.option(
    "--omp-wait-policy",
    type=click.Choice(["passive", "active", "inherit"]),
    default="passive",
    show_default=True,
    help="OMP_WAIT_POLICY for PyTorch's threads (set before torch loads; inherit: leave "
    "the environment as it is). Active waiting collapses on a shared, busy machine.",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@offline_option
def bench_command(**params: Any) -> None:
    """Measure inference and encode cost: compressed-domain vs pixel-domain pipelines,
    onnxruntime vs PyTorch, and encode throughput, side by side with medians and ratios.

    \b
    Example:
      jpegai-eval bench --json bench.json
      jpegai-eval bench --quality 1 --quality 8 --weights pretrained
    """
    run_bench_from(BenchOptions(**params))


@dataclass(frozen=True)
class BenchOptions:
    """The options ``bench`` was given, as click parsed them."""

    codec: str
    qualities: tuple[int, ...]
    weights: str | None
    images: int
    size: int
    images_dir: str | None
    device: str
    threads: int | None
    reps: int
    warmup: int
    batch: str
    batch_reps: int
    encode_images: int
    encode_reps: int
    workers: str
    only: str
    loader_images: int
    train_preset: str
    train_batch: int | None
    json_out: str | None
    run_dir: str | None
    omp_wait_policy: str
    quiet: bool


def run_bench_from(options: BenchOptions) -> None:
    """Run the measurements, print the tables, write the JSON files asked for."""
    if options.omp_wait_policy != "inherit" and "torch" not in sys.modules:
        os.environ["OMP_WAIT_POLICY"] = options.omp_wait_policy.upper()
    from jpegai_eval.bench import measure as bench

    codec, weights = options.codec, options.weights
    quality_list = list(options.qualities) or [1]
    if options.run_dir is not None:
        codec, run_qualities, run_weights = bench.run_dir_settings(options.run_dir)
        quality_list = list(options.qualities) or run_qualities
        weights = weights or run_weights
    config = bench.BenchConfig(
        codec=codec,
        qualities=quality_list,
        weights=weights,
        images=options.images,
        size=options.size,
        images_dir=options.images_dir,
        device=options.device,
        threads=options.threads,
        reps=options.reps,
        warmup=options.warmup,
        batch_sizes=_int_list(options.batch, "--batch"),
        batch_reps=options.batch_reps,
        encode_images=options.encode_images,
        encode_reps=options.encode_reps,
        workers=_int_list(options.workers, "--workers"),
        sections=[s.strip() for s in options.only.split(",") if s.strip()],
        loader_images=options.loader_images,
        train_preset=options.train_preset,
        train_batch=options.train_batch,
    )
    log = (lambda _m: None) if options.quiet else (lambda m: click.echo(m, err=True))
    result = bench.run_bench(config, log=log)
    click.echo(bench.format_report(result))
    run_dir = options.run_dir
    for target in [options.json_out, Path(run_dir) / bench.BENCH_FILE if run_dir else None]:
        if target:
            click.echo(f"wrote {bench.write_json(result, target)}")
