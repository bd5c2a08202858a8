"""``jpegai-eval run``: parse options, plan, run the study, say where the report is."""

from __future__ import annotations

import os
from pathlib import Path

import click

from jpegai_eval.framework.download import offline_option
from jpegai_eval.framework.errors import UsageError


def _int_list(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--{what} takes comma-separated integers such as 1,4,8; got {text!r}."
        ) from None
    if not values:
        raise UsageError(
            f"--{what} names no value (got {text!r}); give comma-separated integers such "
            "as 1,4,8, or leave the option out for the default."
        )
    return values


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cap_workers(workers: int) -> int:
    """``workers``, at most the usable cores; says so when it lowers the value."""
    cores = usable_cores()
    if workers > cores:
        click.echo(
            f"Note: --workers {workers} is more than the {cores} CPU core(s) available here; "
            f"using {cores} worker(s).",
            err=True,
        )
        return cores
    return workers


@click.command("run")
@click.option(
    "--codec",
    "codecs",
    multiple=True,
    required=True,
    help="Codec id, or id/backend. Repeat to compare codecs side by side.",
)
@click.option("--task", required=True, help="Task id, e.g. minc.")
@click.option("--backend", default=None, help="Backend for codecs given without one.")
@click.option("--qualities", default=None, help="Comma-separated qualities [default: 1,4,8].")
@click.option(
    "--anchors",
    default=None,
    help="Comma-separated anchors [default: all: anchor1,anchor2,anchor3,compressed].",
)
@click.option(
    "--dataset",
    type=click.Choice(["minc", "demo"]),
    default="minc",
    show_default=True,
    help="minc reads your MINC-2500 copy; demo the embedded synthetic dataset.",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="MINC-2500 root (or set JPEGAI_EVAL_MINC_ROOT).",
)
@click.option("--split", type=click.IntRange(1, 5), default=1, show_default=True)
@click.option(
    "--weights",
    default=None,
    help="Codec weights: demo, pretrained or a path; or per backend: compressai=demo,tfc=DIR.",
)
@click.option(
    "--weights-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of pretrained weights (CompressAI checkpoints, TFC metagraphs).",
)
@click.option(
    "--preset", default="paper", show_default=True, help="Training preset: paper or quick."
)
@click.option(
    "--imagenet-weights",
    default=None,
    metavar="VARIANT|FILE|none",
    help="What the classifiers start from: torchvision's ResNet-50 IMAGENET1K_V1 (the "
    "paper preset's default, from torch hub's checkpoints folder) or IMAGENET1K_V2, a "
    "checkpoint file, or none to train from scratch (the other presets' default).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder [default: runs/<codec>-<task>-<time>]. Rerun to resume.",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Worker processes for encoding and data loading.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Reuse an output folder of another configuration.")
@offline_option
@click.option(
    "--skip-bad-images",
    is_flag=True,
    help="Leave out images that cannot be read or coded (listed in run.json and the "
    "report) instead of stopping the run.",
)
def run_command(
    codecs: tuple[str, ...],
    task: str,
    backend: str | None,
    qualities: str | None,
    anchors: str | None,
    dataset: str,
    data_root: str | None,
    split: int,
    weights: str | None,
    weights_dir: str | None,
    preset: str,
    imagenet_weights: str | None,
    out: str | None,
    device: str,
    workers: int,
    seed: int,
    force: bool,
    skip_bad_images: bool,
) -> None:
    """Run the codec x quality x anchor study and write results.csv and the reports.

    Every image is encoded once per codec x quality into a cache in the output
    folder; classifiers are trained, exported to ONNX and evaluated with ONNX
    Runtime. Rerunning with the same --out resumes: finished cells are skipped.
    """
    from jpegai_eval.framework.distributed import from_environment, session
    from jpegai_eval.framework.evaluator import run_study
    from jpegai_eval.framework.plan import RunConfig

    workers = cap_workers(workers)
    config = RunConfig(
        codecs=list(codecs),
        task=task,
        backend=backend,
        qualities=_int_list(qualities, "qualities"),
        anchors=[a.strip() for a in anchors.split(",") if a.strip()] if anchors else None,
        dataset=dataset,
        data_root=data_root,
        split=split,
        weights=weights,
        weights_dir=weights_dir,
        preset=preset,
        seed=seed,
        imagenet_weights=imagenet_weights,
        device=device,
        workers=workers,
        skip_bad_images=skip_bad_images,
    )
    out_dir = Path(out) if out else None
    if out_dir is None and from_environment().distributed:
        raise UsageError(
            "Under torchrun every rank must write into the same output folder: give "
            "--out PATH (on a filesystem all nodes share)."
        )
    # Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK set) join the job's process group;
    # otherwise a no-op.
    with session(device) as w:
        result = run_study(config, out_dir=out_dir, force=force)
    if w.is_main:
        click.echo(f"Results: {result.out_dir / 'results.csv'}")
        for path in result.reports:
            click.echo(f"Report:  {path}")
