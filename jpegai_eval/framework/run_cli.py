"""``jpegai-eval run``: parse options, plan, run the study, say where the report is.

The options of ``run`` are its own (codecs, qualities, anchors, training, output)
plus the dataset options of the task given with ``--task``: each task declares them
(:attr:`Task.options <jpegai_eval.framework.types.Task.options>`, a tuple of
:class:`~jpegai_eval.framework.types.TaskOption`), so nothing here knows any task.
Parsing has two phases (:class:`TaskOptionsCommand`): ``--task ID`` is read from the
raw arguments first, wherever it stands; then click parses everything with that task's
options added, so an option of another task, or a misspelt one, is a usage error
naming the task's options. A task option not given is left out and the task's default
applies (:meth:`Task.resolve_options`), exactly as for a :class:`RunConfig` built in
Python.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from jpegai_eval.framework.download import offline_option
from jpegai_eval.framework.encode_stage import default_workers, usable_cores
from jpegai_eval.framework.errors import UnknownNameError, UsageError
from jpegai_eval.framework.types import Task, TaskOption

#: Where the task read from the arguments is kept between the two phases of parsing.
TASK_META = "jpegai_eval.run.task"


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


def peek_task(args: list[str]) -> str | None:
    """The value of ``--task`` in raw arguments (``--task ID`` or ``--task=ID``)."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--task" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--task="):
            return arg.split("=", 1)[1]
    return None


def click_option(option: TaskOption, task_id: str) -> click.Option:
    """A task's declared option as a click option. Its click default is None, so that
    an option not given is left to :meth:`Task.resolve_options` (the help shows the
    task's default). A given value reaches the task converted to the option's type."""
    if option.type is bool:
        return click.Option(
            [option.flag, option.name],
            is_flag=True,
            default=None,
            help=option.help,
            callback=lambda ctx, param, value: None if value is None else bool(value),
        )
    if option.choices:
        kind: Any = click.Choice([str(c) for c in option.choices])
    elif option.type == "path":
        kind = click.Path()
    else:
        kind = {str: click.STRING, int: click.INT, float: click.FLOAT}[option.type]
    default = f"  [default: {option.default}]" if option.default is not None else ""

    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        return None if value is None else option.convert(value, task_id)

    return click.Option(
        [option.flag, option.name],
        type=kind,
        default=None,
        help=option.help + default,
        callback=convert,
    )


def _any_options() -> list[click.Parameter]:
    """Every registered task's options, each flag once, taken as given (for a --task
    that names no task: the plan then reports it)."""
    seen: set[str] = set()
    options: list[click.Parameter] = []
    for task in _all_tasks():
        for o in task.options:
            if o.flag not in seen and o.name not in seen:
                seen |= {o.flag, o.name}
                flag = o.type is bool
                options.append(
                    click.Option([o.flag, o.name], default=None, hidden=True, is_flag=flag)
                )
    return options


def _all_tasks() -> list[Task]:
    from jpegai_eval.framework.plugins import get_plugins

    return list(get_plugins().tasks)


class TaskOptionsCommand(click.Command):
    """A click command whose options include those of the task named by ``--task``.

    Phase one reads ``--task`` from the raw arguments (:func:`peek_task`) and looks the
    task up; phase two is click's own parse, with :meth:`get_params` adding that
    task's options. Without ``--task``, ``--help`` lists every task's options."""

    #: When True, the task is the first argument (``task check TASK ...``), not --task.
    task_is_first_argument = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if self.task_is_first_argument:
            task_id = args[0] if args and not args[0].startswith("-") else None
        else:
            task_id = peek_task(args)
        task = None
        if task_id is not None:
            from jpegai_eval.framework.plugins import get_plugins

            tasks = get_plugins().tasks
            if task_id in tasks:
                task = tasks.get(task_id)
        ctx.meta[TASK_META] = task
        # An unknown task is the plan's to report (with the known ones), after the
        # command's own checks: meanwhile any task's options are accepted as given.
        ctx.meta[TASK_META + ".unknown"] = task_id is not None and task is None
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise self._no_such_option(ctx, exc, task_id, task) from None

    def _no_such_option(
        self, ctx: click.Context, exc: click.NoSuchOption, task_id: str | None, task: Task | None
    ) -> Exception:
        owners = [t.id for t in _all_tasks() if exc.option_name in [o.flag for o in t.options]]
        if not owners:
            return exc
        if task_id is None:
            give = (
                f"give the task first: {ctx.command_path} {owners[0]} {exc.option_name} ..."
                if self.task_is_first_argument
                else f"give the task too: --task {owners[0]}"
            )
            return UsageError(
                f"Option {exc.option_name} is a dataset option of task {', '.join(owners)}; {give}."
            )
        if task is None:
            from jpegai_eval.framework.plugins import get_plugins

            return UnknownNameError("task", task_id, get_plugins().tasks.ids())
        mine = ", ".join(o.flag for o in task.options) or "none"
        return UsageError(
            f"Task {task.id!r} has no option {exc.option_name} (task "
            f"{', '.join(owners)} has); the options of {task.id!r} are {mine}."
        )

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        task: Task | None = ctx.meta.get(TASK_META)
        if task is None and ctx.meta.get(TASK_META + ".unknown"):
            return self._with(params, ctx.meta.setdefault(TASK_META + ".params", _any_options()))
        if task is None or not task.options:
            return params
        taken = {n for p in params for n in [p.name, *getattr(p, "opts", [])]}
        clash = [o.flag for o in task.options if o.name in taken or o.flag in taken]
        if clash:
            raise UsageError(
                f"Task {task.id!r} declares {', '.join(clash)}, which `run` already has; "
                "the task's plugin must rename that option."
            )
        # Built once per invocation: click's parse and its processing see the same objects.
        extra: list[click.Parameter] = ctx.meta.setdefault(
            TASK_META + ".params", [click_option(o, task.id) for o in task.options]
        )
        return self._with(params, extra)

    @staticmethod
    def _with(params: list[click.Parameter], extra: list[click.Parameter]) -> list[click.Parameter]:
        if params and params[-1].name == "help":  # the help option stays last
            return [*params[:-1], *extra, params[-1]]
        return [*params, *extra]

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        if ctx.meta.get(TASK_META) is not None:
            return
        rows = [(t.id, " ".join(o.flag for o in t.options) or "(none)") for t in _all_tasks()]
        if rows:
            with formatter.section("Dataset options of each task (--task ID --help)"):
                formatter.write_dl(rows)


@click.command("run", cls=TaskOptionsCommand)
@click.option(
    "--codec",
    "codecs",
    multiple=True,
    required=True,
    help="Codec id, or id/backend. Repeat to compare codecs side by side.",
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
    help="Codec weights: demo, pretrained or a path; or per backend: compressai=demo,tfc=DIR.",
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
def run_command(
    codecs: tuple[str, ...],
    task: str,
    backend: str | None,
    qualities: str | None,
    target_bpp: str | None,
    anchors: str | None,
    weights: str | None,
    weights_dir: str | None,
    preset: str,
    imagenet_weights: str | None,
    out: str | None,
    device: str,
    workers: int,
    seed: int,
    deterministic: bool | None,
    ddp: bool,
    force: bool,
    skip_bad_images: bool,
    metrics: str,
    bd_anchor: str | None,
    **task_options: object,
) -> None:
    """Run the codec x quality x anchor study and write results.csv and the reports.

    Every image is encoded once per codec x quality into a cache in the output
    folder; classifiers are trained, exported to ONNX and evaluated with ONNX
    Runtime. Rerunning with the same --out resumes: finished cells are skipped.

    The task's dataset options (e.g. --data-root) come from the task given with
    --task; `jpegai-eval run --task ID --help` lists them.
    """
    from jpegai_eval.framework.distributed import from_environment

    if out and from_environment().is_main:
        from jpegai_eval.framework.runlock import refuse_if_locked

        refuse_if_locked(out)  # a busy --out is refused before torch is even imported

    from jpegai_eval.framework.distributed import leave, session
    from jpegai_eval.framework.evaluator import run_study
    from jpegai_eval.framework.plan import RunConfig
    from jpegai_eval.framework.rate_points import parse_targets

    workers = cap_workers(workers)
    config = RunConfig(
        codecs=list(codecs),
        task=task,
        backend=backend,
        qualities=_int_list(qualities, "qualities"),
        target_bpp=parse_targets(target_bpp),
        anchors=[a.strip() for a in anchors.split(",") if a.strip()] if anchors else None,
        task_options={k: v for k, v in task_options.items() if v is not None},
        weights=weights,
        weights_dir=weights_dir,
        preset=preset,
        seed=seed,
        imagenet_weights=imagenet_weights,
        device=device,
        workers=workers,
        skip_bad_images=skip_bad_images,
        ddp=ddp,
        deterministic=deterministic,
        metrics=metrics,
        bd_anchor=bd_anchor,
    )
    out_dir = Path(out) if out else None
    if out_dir is None and from_environment().distributed:
        raise UsageError(
            "Under torchrun every rank must write into the same output folder: give "
            "--out PATH (on a filesystem all nodes share)."
        )
    # Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK set) join the job's process group;
    # otherwise a no-op.
    if out_dir is None:
        from jpegai_eval.framework.evaluator import default_out_dir

        out_dir = default_out_dir(config)
    try:
        with session(device) as w:
            result = run_study(config, out_dir=out_dir, force=force)
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
