"""``jpegai-eval run``: parse options, plan, run the study, say where the report is.

The options of ``run`` are its own (codecs, qualities, anchors, training, output),
collected in a :class:`RunOptions` record, plus the dataset options of the task given
with ``--task``: each task declares them, so nothing here knows any task. Parsing has
two phases (:class:`~jpegai_eval.cli.task_options.TaskOptionsCommand`). A task option
not given is left out and the task's default applies (:meth:`Task.resolve_options`),
exactly as for a :class:`RunConfig` built in Python.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jpegai_eval.cli.options import offline_option
from jpegai_eval.cli.task_options import TaskOptionsCommand
from jpegai_eval.framework.errors import UsageError
from jpegai_eval.framework.io.json_types import SCALAR_TYPES, Scalar
from jpegai_eval.framework.run.encode_stage import default_workers, usable_cores

if TYPE_CHECKING:
    from jpegai_eval.framework.run.plan import RunConfig


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


@click.command("run", cls=TaskOptionsCommand)
@click.option(
    "--codec",
    "codecs",
    multiple=True,
    required=True,
    help="Codec id (or alias, e.g. mbt2018-mean for mbt2018-mean-msssim), or id/backend; "
    "`jpegai-eval plugins` lists them. Repeat to compare codecs side by side.",
)
@click.option("--task", required=True, help="Task id, e.g. minc; its dataset options follow it.")
@click.option("--backend", default=None, help="Backend for codecs given without one.")
@click.option("--qualities", default=None, help="Comma-separated qualities [default: 1,4,8].")
@click.option(
    "--target-bpp",
    default=None,
    metavar="RATES",
    help="Compare every codec at these rates instead of its qualities, e.g. "
    "0.06,0.12,0.25,0.5,0.75,1.0,1.5,2.0 (JPEG AI's): per image, a conventional codec's "
    "quality parameter is bisected, a learned codec's quality chosen, to the rate closest "
    "to each target; results.csv gives the mean achieved bpp and the share within +/-10%.",
)
@click.option(
    "--anchors",
    default=None,
    help="Comma-separated anchors [default: all: anchor1,anchor2,anchor3,compressed].",
)
@click.option(
    "--weights",
    default=None,
    help="Codec weights, as each codec's backend reads them (the built-in learned codecs: "
    "demo, pretrained or a path); or KEY=VALUE pairs whose keys are backends, codec ids or "
    "id/backend: compressai=demo,tfc=DIR.",
)
@click.option(
    "--weights-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of pretrained weights (CompressAI checkpoints, TFC metagraphs).",
)
@click.option(
    "--preset",
    default="paper",
    show_default=True,
    help="Training preset: paper (the paper's recipe; hours per classifier on a CPU), "
    "quick (quarter-width models on 128-pixel images: the demo study in about 6 min on a "
    "2-core CPU) or smoke (1 epoch at 32 pixels, for tests; its accuracies mean nothing).",
)
@click.option(
    "--imagenet-weights",
    default=None,
    metavar="VARIANT|FILE|texture-standin|none",
    help="What the classifiers start from: torchvision's ResNet-50 IMAGENET1K_V1 (the "
    "paper preset's default, from torch hub's checkpoints folder) or IMAGENET1K_V2, a "
    "checkpoint file, texture-standin (the quick preset's default: the shipped ResNet-50 "
    "and cResNet-39 pretrained on procedural textures and their latents, see "
    "docs/demo.md), or none to train from scratch "
    "(the smoke preset's default).",
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
    default=default_workers,
    show_default="one per core, at most 8",
    help="Worker processes for encoding and data loading (one torch thread each when "
    "there are several; a stage too small to pay for a pool runs in process).",
)
@click.option(
    "--encode-batch",
    type=click.IntRange(0, 1024),
    default=None,
    show_default="16 on a GPU, one by one on the CPU",
    help="Images a CompressAI hyperprior encodes per batch (its analysis transforms batched "
    "on the device, the entropy coding on the CPU; decoding, metrics and the cache stay "
    "per image in the workers); 0 or 1: one by one. run.json records what each cell used.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--deterministic/--no-deterministic",
    default=None,
    help="Train the classifiers with deterministic kernels in fp32 (bit-identical for "
    "the same --seed on the CPU), or at the hardware's speed (on CUDA: bf16 autocast, "
    "channels_last, cudnn.benchmark; persistent DataLoader workers) [default: "
    "deterministic on the CPU, fast on CUDA]. run.json records which.",
)
@click.option(
    "--ddp",
    is_flag=True,
    help="Under torchrun: train each classifier with every rank together "
    "(DistributedDataParallel, SyncBatchNorm; the preset's batch is the global batch, "
    "split evenly over the ranks, at the preset's learning rate), for fewer classifiers "
    "than ranks. Without torchrun it does nothing.",
)
@click.option("--force", is_flag=True, help="Reuse an output folder of another configuration.")
@offline_option
@click.option(
    "--skip-bad-images",
    is_flag=True,
    help="Leave out images that cannot be read or coded (listed in run.json and the "
    "report) instead of stopping the run.",
)
@click.option(
    "--metrics",
    default="fast",
    show_default=True,
    help="Fidelity metrics of the test images, per image into per_image.csv and averaged "
    "into results.csv: fast (psnr, ms_ssim, ssim, psnr_y), jpegai (JPEG AI's suite, as "
    "its verification model computes it), all, or a comma-separated list of ids "
    "(`jpegai-eval plugins` lists them).",
)
@click.option(
    "--bd-anchor",
    default=None,
    help="The codec bd_metrics.csv compares every other codec against (an id or "
    "id/backend) [default: jpeg when the run has it, else the first codec].",
)
def run_command(**params: Any) -> None:
    """Run the codec x quality x anchor study and write results.csv and the reports.

    Every image is encoded once per codec x quality into a cache in the output
    folder; classifiers are trained, exported to ONNX and evaluated with ONNX
    Runtime. Rerunning with the same --out resumes: finished cells are skipped.

    The task's dataset options (e.g. --data-root) come from the task given with
    --task; `jpegai-eval run --task ID --help` lists them.
    """
    run_from_options(RunOptions.from_params(params))


@dataclass(frozen=True)
class RunOptions:
    """The options ``run`` was given, as click parsed them; ``task_options`` holds the
    task's dataset options that were given (those left out take the task's default)."""

    codecs: tuple[str, ...]
    task: str
    backend: str | None
    qualities: str | None
    target_bpp: str | None
    anchors: str | None
    weights: str | None
    weights_dir: str | None
    preset: str
    imagenet_weights: str | None
    out: str | None
    device: str
    workers: int
    encode_batch: int | None
    seed: int
    deterministic: bool | None
    ddp: bool
    force: bool
    skip_bad_images: bool
    metrics: str
    bd_anchor: str | None
    task_options: dict[str, Scalar]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RunOptions:
        """Split click's keyword arguments into ``run``'s own options and the task's."""
        own = {f.name for f in fields(cls)} - {"task_options"}
        task_options = {
            k: v
            for k, v in params.items()
            if k not in own and v is not None and isinstance(v, SCALAR_TYPES)
        }
        return cls(**{k: v for k, v in params.items() if k in own}, task_options=task_options)

    def config(self, workers: int) -> RunConfig:
        """The study's :class:`RunConfig`, with ``workers`` (already capped)."""
        from jpegai_eval.framework.run.plan import RunConfig
        from jpegai_eval.framework.run.rate_points import parse_targets

        anchors = self.anchors
        return RunConfig(
            codecs=list(self.codecs),
            task=self.task,
            backend=self.backend,
            qualities=_int_list(self.qualities, "qualities"),
            target_bpp=parse_targets(self.target_bpp),
            anchors=[a.strip() for a in anchors.split(",") if a.strip()] if anchors else None,
            task_options=dict(self.task_options),
            weights=self.weights,
            weights_dir=self.weights_dir,
            preset=self.preset,
            seed=self.seed,
            imagenet_weights=self.imagenet_weights,
            device=self.device,
            workers=workers,
            skip_bad_images=self.skip_bad_images,
            ddp=self.ddp,
            deterministic=self.deterministic,
            metrics=self.metrics,
            bd_anchor=self.bd_anchor,
            encode_batch=self.encode_batch,
        )


def run_from_options(options: RunOptions) -> None:
    """Plan and run the study, print where its results and reports are."""
    from jpegai_eval.framework.run.distributed import from_environment

    if options.out and from_environment().is_main:
        from jpegai_eval.framework.run.runlock import refuse_if_locked

        refuse_if_locked(options.out)  # a busy --out is refused before torch is even imported

    from jpegai_eval.framework.run.distributed import leave, session
    from jpegai_eval.framework.run.evaluator import run_study

    config = options.config(cap_workers(options.workers))
    out_dir = _out_dir(options.out, config)
    # Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK set) join the job's process group;
    # otherwise a no-op.
    try:
        with session(options.device) as w:
            result = run_study(config, out_dir=out_dir, force=options.force)
    except KeyboardInterrupt:
        click.echo(
            f"\nInterrupted. What was finished is kept in {str(out_dir)!r} (run.json says "
            "'interrupted'): rerun the same command, with --out "
            f"{str(out_dir)!r}, to resume where it stopped.",
            err=True,
        )
        sys.exit(130)
    if w.is_main:
        click.echo(f"Results: {result.out_dir / 'results.csv'}")
        for path in result.reports:
            click.echo(f"Report:  {path}")
    leave()  # a torchrun rank ends here, before the interpreter's finalization


def _out_dir(out: str | None, config: RunConfig) -> Path:
    """``--out``, or the default folder; under torchrun ``--out`` is required."""
    from jpegai_eval.framework.run.distributed import from_environment

    if out:
        return Path(out)
    if from_environment().distributed:
        raise UsageError(
            "Under torchrun every rank must write into the same output folder: give "
            "--out PATH (on a filesystem all nodes share)."
        )
    from jpegai_eval.framework.run.evaluator import default_out_dir

    return default_out_dir(config)
