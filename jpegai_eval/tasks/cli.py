"""The ``data`` and ``task`` command groups (registered by :mod:`jpegai_eval.plugins.commands`).

Commands stay thin: parse, call one function, print. Heavy modules (numpy, torch)
are imported inside the commands so ``jpegai-eval --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jpegai_eval.cli.task_options import TaskOptionsCommand
from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.framework.run.plan import check_classes

if TYPE_CHECKING:
    from jpegai_eval.framework.api.types import LatentSpec, Task

data_group = click.Group("data", help="Datasets: write the synthetic demo dataset.")
task_group = click.Group("task", help="Tasks: models, sizes and dataset checks.")


@data_group.command("demo")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--per-class", type=int, default=None, help="Images per class [default: 24 = 16/2/6]."
)
@click.option("--size", type=int, default=None, help="Image side in pixels [default: 128].")
@click.option("--seed", type=int, default=None, help="Random seed [default: 0].")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty DIRECTORY's dataset.")
def demo_command(
    directory: Path, per_class: int | None, size: int | None, seed: int | None, overwrite: bool
) -> None:
    """Write the synthetic demo dataset into DIRECTORY, in MINC-2500's layout.

    Procedural material-like textures for MINC-2500's 23 classes; the same seed gives
    byte-identical files. Read it with --dataset minc --data-root DIRECTORY, or let
    --dataset demo generate one into the cache folder.
    """
    from jpegai_eval.tasks import demo

    per_class = demo.DEFAULT_PER_CLASS if per_class is None else per_class
    size = demo.DEFAULT_SIZE if size is None else size
    seed = demo.DEFAULT_SEED if seed is None else seed
    t0 = time.perf_counter()
    demo.write_demo_dataset(directory, per_class, size, seed, overwrite=overwrite)
    counts = demo.split_counts(per_class)
    n = len(demo.MINC_CLASSES)
    click.echo(
        f"Wrote {n * per_class} images ({n} classes x {per_class}, {size}x{size} JPEG) to "
        f"{directory} in {time.perf_counter() - t0:.1f} s; partitions 1-5 with "
        f"{counts['train'] * n} train / {counts['validate'] * n} validate / "
        f"{counts['test'] * n} test images."
    )


def _task(task_id: str) -> Task:
    from jpegai_eval.framework.api.plugins import get_plugins

    return get_plugins().tasks.get(task_id)


def _count(n: int) -> str:
    return {1: "one", 2: "two", 3: "three"}.get(n, str(n))


def _latent_specs(
    codec_id: str | None, backend: str | None, quality: int | None
) -> list[tuple[str, LatentSpec]]:
    """(label, LatentSpec) pairs for task info: the codec's, or the paper's."""
    from jpegai_eval.framework.api.types import LatentSpec

    if codec_id is None:
        if quality is not None:
            raise UsageError("--quality needs --codec: name the codec whose quality it is.")
        return [
            ("bmshj2018 hyperprior, qualities 1-5 (M=192)", LatentSpec(192, 16, 192)),
            ("bmshj2018 hyperprior, qualities 6-8 (M=320)", LatentSpec(320, 16, 320)),
        ]
    from jpegai_eval.framework.api.plugins import get_plugins

    codec = get_plugins().codecs.resolve(codec_id, backend)
    qualities = [codec.check_quality(quality)] if quality is not None else list(codec.qualities)
    specs: list[tuple[str, LatentSpec]] = []
    for q in qualities:
        spec = codec.latent_spec(q)
        if spec is None:
            raise UsageError(
                f"Codec {codec.key} has no compressed domain, so cResNet-39 has no input "
                "for it; pick a learned codec such as hyperprior-msssim."
            )
        if specs and specs[-1][1] == spec:
            first = specs[-1][0].split(" quality ")[1].split("-")[0].split(" ")[0]
            specs[-1] = (f"{codec.key} quality {first}-{q} (M={spec.channels})", spec)
        else:
            specs.append((f"{codec.key} quality {q} (M={spec.channels})", spec))
    return specs


def _fmt(n: float, unit: str) -> str:
    return f"{n / 1e9:.2f} G{unit}" if n >= 1e9 else f"{n / 1e6:.2f} M{unit}"


#: The training presets every built-in task has (a plugin's task may add others).
PRESETS = ("paper", "quick", "smoke")
#: Classes the last layer is sized for when a task learns its classes from a dataset
#: that was not given (``task info imagefolder`` without --data-root).
ASSUMED_CLASSES = 10


class _TaskFirstCommand(TaskOptionsCommand):
    """A ``task`` subcommand whose first argument is the task, followed by its options."""

    task_is_first_argument = True


def _sized(task: Task, classes: tuple[str, ...]) -> Task:
    """A copy of ``task`` that reports ``classes`` as its classes (to size a classifier
    of a task whose classes come from a dataset that was not given)."""
    cls = type(task)
    sized_cls = type(cls.__name__, (cls,), {"classes": property(lambda self: classes)})
    sized = sized_cls.__new__(sized_cls)
    sized.__dict__.update(vars(task))
    return sized


def _classes_note(task: Task, options: dict[str, object]) -> tuple[Task, str | None]:
    """``(task, note)``: the task with known classes, and a line saying where they came
    from when they are not the task's own (else None)."""
    try:
        task.classes  # noqa: B018 - raises when the classes come from a dataset
        return task, None
    except UsageError:
        pass  # the task learns its classes from its dataset
    given = {k: v for k, v in options.items() if v is not None}
    if given:
        resolved = task.resolve_options(given)
        task.samples("train", **resolved)  # validates the dataset, learns the classes
        return task, f"{len(task.classes)} classes, from the dataset"
    names = tuple(f"class{i}" for i in range(ASSUMED_CLASSES))
    flags = " ".join(o.flag for o in task.options)
    return _sized(task, names), (
        f"its classes come from the dataset: sized here for {ASSUMED_CLASSES} classes "
        f"(give the dataset, {flags or 'its options'}, to size the last layer for yours)"
    )


@task_group.command("info", cls=_TaskFirstCommand)
@click.argument("task_id", metavar="TASK")
@click.option("--codec", "codec_id", default=None, help="Size cResNet-39 for this codec.")
@click.option("--backend", default=None, help="The codec's backend (default: the first).")
@click.option("--quality", type=int, default=None, help="One quality of --codec.")
@click.option(
    "--preset",
    default="paper",
    show_default=True,
    help=f"Training preset whose input sizes and width are used: {', '.join(PRESETS)}.",
)
def info_command(
    task_id: str,
    codec_id: str | None,
    backend: str | None,
    quality: int | None,
    preset: str,
    **options: object,
) -> None:
    """Print each classifier's parameter count and multiply-accumulates for its input.

    TASK comes first; its dataset options may follow (`jpegai-eval task info TASK
    --help` lists them): a task that learns its classes from its dataset
    (imagefolder) sizes its classifiers' last layer for it."""
    task = _task(task_id)
    if task.presets and preset not in task.presets:
        raise UsageError(
            f"Task {task.id!r} has no preset {preset!r}; its presets are {', '.join(task.presets)}."
        )
    specs = _latent_specs(codec_id, backend, quality)
    task, classes = _classes_note(task, options)
    import torch

    from jpegai_eval.tasks import models, training

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    p = training.get_preset(preset)
    # Everything is measured first, then printed: an error never leaves half a table.
    pixel = models.complexity(
        task.classifier_for("pixel", None, p.name), (3, p.pixel_crop, p.pixel_crop)
    )
    latent = []
    for label, spec in specs:
        model = task.classifier_for("latent", spec, p.name)
        crop = training.latent_preset(p, spec).latent_crop  # the size for its stride
        shape = (spec.total_channels, crop, crop)
        latent.append((label, models.complexity(model, shape), spec))
    lines = [
        f"Task {task.id}: {task.description}" + (f"; {classes}." if classes else "."),
        f"Input sizes of preset {p.name!r}.",
        f"{'model':<12} {'domain':<7} {'input':<12} {'parameters':>12} {'MACs':>12}  for",
        f"{'ResNet-50':<12} {'pixel':<7} {pixel.as_dict()['input']:<12} "
        f"{_fmt(pixel.parameters, ''):>12} {_fmt(pixel.macs, 'MAC'):>12}  "
        f"deep stem; {pixel.main_path_convs} convolutions + fc",
    ]
    for label, c, _ in latent:
        lines.append(
            f"{'cResNet-39':<12} {'latent':<7} {c.as_dict()['input']:<12} "
            f"{_fmt(c.parameters, ''):>12} {_fmt(c.macs, 'MAC'):>12}  {label}"
        )
    for names in dict.fromkeys(spec.names for _, _, spec in latent):
        width = models.scaled(32, p.width) * 4  # each adapter's output channels
        lines.append(
            f"cResNet-39: {_count(len(names))} bottleneck adapter{'s' * (len(names) > 1)} "
            f"({', '.join(names)} -> "
            f"{' + '.join([str(width)] * len(names))} channels), then "
            f"{models.cresnet_backbone_convs(model)} convolution layers (conv3_x..conv5_x) "
            "and fc."
        )
    click.echo("\n".join(lines))


@task_group.command("pretrain")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Weights file to write (and OUT.json describing it); OUT.work/ holds the "
    "resumable epoch checkpoints.",
)
@click.option(
    "--per-class",
    type=click.IntRange(1),
    default=None,
    help="Corpus images per texture family [default: 800, the shipped files'].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=int, default=0, show_default=True, help="DataLoader workers.")
@click.option(
    "--domain",
    type=click.Choice(["pixel", "latent"]),
    default="pixel",
    show_default=True,
    help="pixel: ResNet-50 on the images; latent: cResNet-39 on the demo codec's latents "
    "of the same images (all eight qualities).",
)
def pretrain_command(out: str, per_class: int | None, seed: int, workers: int, domain: str) -> None:
    """Pretrain the quick preset's texture stand-in for ImageNet (resumable).

    ResNet-50 (--domain pixel) or cResNet-39 (--domain latent) at the quick preset's
    width, trained on procedural textures that share no image with any demo dataset
    (see jpegai_eval/tasks/standin.py and docs/demo.md). The shipped files were made
    with `jpegai-eval task pretrain [--domain latent] --out FILE`.
    """
    from pathlib import Path

    from jpegai_eval.tasks import standin

    make = standin.pretrain if domain == "pixel" else standin.pretrain_latents
    record = make(
        Path(out),
        per_class=per_class or standin.CORPUS_PER_CLASS,
        seed=seed,
        workers=workers,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(f"{record['file']}: sha256 {record['sha256']}, {record['bytes']} bytes")


@task_group.command("check", cls=_TaskFirstCommand)
@click.argument("task_id", metavar="TASK")
@click.option("--decode", is_flag=True, help="Also decode every image to find corrupt files.")
def check_command(task_id: str, decode: bool, **options: object) -> None:
    """Validate a task's dataset (and, with --decode, every image) before a run.

    TASK comes first; its dataset options follow (`jpegai-eval task check TASK --help`
    lists them), the same as `jpegai-eval run --task TASK` takes."""
    task = _task(task_id)
    resolved = task.resolve_options({k: v for k, v in options.items() if v is not None})
    samples = {split: task.samples(split, **resolved) for split in ("train", "test")}
    check_classes(task, samples)
    described = ", ".join(f"{k}={v}" for k, v in resolved.items())
    click.echo(
        f"Task {task.id} ({described}): the dataset is valid: "
        + ", ".join(f"{len(s)} {split}" for split, s in samples.items())
        + f" images, {len(task.classes)} classes."
    )
    if decode:
        everything = [s for split in samples.values() for s in split]
        bad = undecodable([s.path for s in everything])
        if bad:
            shown = ", ".join(str(p) for p in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise DatasetError(
                f"{len(bad)} image(s) of task {task.id} cannot be decoded: {shown}{more}. "
                "Replace or remove them (a run stops at, or skips, such files)."
            )
        click.echo(f"All {len(everything)} images decode.")


def undecodable(paths: list[Path]) -> list[Path]:
    """The files among ``paths`` that Pillow cannot decode."""
    from PIL import Image

    from jpegai_eval.framework.io.image_io import no_bomb_warning

    bad = []
    for path in paths:
        try:
            with no_bomb_warning(), Image.open(path) as img:
                img.load()
        except Exception:  # noqa: BLE001 - any decoder failure means a corrupt file
            bad.append(path)
    return bad
