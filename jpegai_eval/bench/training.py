"""The training side of ``jpegai-eval bench`` (issue #26): how fast the training loader
feeds images, and how close the framework's training loop comes to a bare PyTorch loop.

**loader_per_core** -- images/s of the pixel-domain training loader on one core (no
DataLoader workers, one torch thread), with a preset's augmentation, through the
loader :mod:`jpegai_eval.tasks.training` builds (``ItemDataset`` and ``_loader``), on
two item lists side by side:

- ``decoded_every_epoch`` (the loader as issue #26 found it): PNG files at the bench's
  image size, each decoded and resized every epoch, and augmented step by step as the
  loader did then (:class:`StepByStepAugment`: torchvision's transforms on a PIL image,
  the float steps on the whole image, each item seeded with ``torch.manual_seed``);
- ``decode_once`` (today's path): the rows of the array that
  :func:`jpegai_eval.tasks.decode_once.decode_once` builds from the same files, so
  each epoch only crops, flips and colour-augments, with today's augmentation (the
  float steps as a table).

The first batch of both is compared: the two paths must give the same tensors, bit
for bit.

**train_over_bare** -- the training step: images/s of
:func:`jpegai_eval.tasks.training.train_classifier`
(one epoch of ``steps + 1`` batches, no workers, nothing decoded: the images are in
memory, already at the preset's resize, as decode-once leaves them) over images/s of a
bare PyTorch loop (``zero_grad``, forward, cross-entropy, ``backward``, SGD ``step``)
on the same model, batch and data -- the same augmented tensors, made once. The
framework's loop is timed from the first image its loader reads to the first image of
batch ``steps + 1``, so its epoch set-up and checkpoint are outside the window, and its
loading and augmentation inside it (no workers). So beside them, the loading of the
same batches alone (``loading``) is timed, and ``value`` is the ratio with its median
taken out of the framework's: the step's throughput, whatever the loader costs on this
device. ``with_loading`` is the ratio of the whole loops. The bare loop runs in the
framework's training mode: its precision (bf16 autocast and channels_last in the fast
mode on CUDA) and its kernels (deterministic on the CPU by default), so the ratio is
the loop's own cost. ``bare_fast_kernels``, the bare loop with fast kernels, gives
what the mode's kernels cost (``deterministic_over_fast_kernels``).
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jpegai_eval.bench.timing import interleaved, stats
from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.run.training_mode import TrainingMode
from jpegai_eval.reports.bench_json import LoaderJson, TrainSpeedJson

if TYPE_CHECKING:  # torch loads when a measurement runs
    import torch
    from torch import nn

    from jpegai_eval.tasks.training import Preset

#: A training item: an image source (a path or an in-memory callable) and its label.
Item = tuple[Any, int]

#: The old loader path and today's, in the order they are reported.
LOADER_PATHS = ("decoded_every_epoch", "decode_once")
#: ``loading``: the framework's loading of the same batches alone (item, augmentation,
#: collate), timed beside the loops to show what of the gap is loading.
TRAIN_CONTENDERS = ("framework", "bare", "loading", "bare_fast_kernels")


@dataclass(frozen=True)
class LoaderSpeed:
    """loader_per_core: each path's median seconds per pass over ``images`` images."""

    preset: str
    images: int
    image_size: int
    resize: int
    batch: int
    reps: int
    warmup: int
    seconds: dict[str, list[float]]
    decode_once_s: float
    same_batches: bool

    def images_per_s(self, path: str) -> float:
        return self.images / statistics.median(self.seconds[path])

    @property
    def speedup(self) -> float:
        """decode_once over decoded_every_epoch, images/s per core."""
        return self.images_per_s("decode_once") / self.images_per_s("decoded_every_epoch")

    def to_json(self) -> LoaderJson:
        return {
            "preset": self.preset,
            "images": self.images,
            "image_size": self.image_size,
            "resize": self.resize,
            "batch": self.batch,
            "reps": self.reps,
            "warmup": self.warmup,
            "threads": 1,
            "workers": 0,
            "images_per_s": {p: round(self.images_per_s(p), 2) for p in LOADER_PATHS},
            "decode_once_over_old": round(self.speedup, 4),
            "pass": {p: stats(self.seconds[p]) for p in LOADER_PATHS},
            "decode_once_build_s": round(self.decode_once_s, 3),
            "same_batches": self.same_batches,
        }


@dataclass(frozen=True)
class TrainSpeed:
    """train_over_bare: each contender's seconds for ``steps`` steps of ``batch`` images."""

    preset: str
    model: str
    width: float
    input_size: int
    batch: int
    steps: int
    reps: int
    warmup: int
    device: str
    training_mode: TrainingMode
    seconds: dict[str, list[float]]

    def images_per_s(self, contender: str) -> float:
        return self.steps * self.batch / statistics.median(self.seconds[contender])

    @property
    def with_loading(self) -> float:
        """framework over bare, images/s, the framework's loading (serial) included."""
        return self.images_per_s("framework") / self.images_per_s("bare")

    @property
    def value(self) -> float | None:
        """framework over bare with the median loading time taken out of the
        framework's (derived: the two are timed separately, interleaved)."""
        left = statistics.median(self.seconds["framework"])
        left -= statistics.median(self.seconds["loading"])
        if left <= 0:
            return None
        return self.steps * self.batch / left / self.images_per_s("bare")

    @property
    def kernels_cost(self) -> float:
        """The bare loop in the framework's kernel mode over the same loop with fast
        (non-deterministic) kernels, images/s: what ``--deterministic`` costs (1.0
        where the mode is not deterministic: both loops are the same)."""
        return self.images_per_s("bare") / self.images_per_s("bare_fast_kernels")

    def to_json(self) -> TrainSpeedJson:
        per_image = self.steps * self.batch
        return {
            "preset": self.preset,
            "model": self.model,
            "width": self.width,
            "input_size": self.input_size,
            "batch": self.batch,
            "steps": self.steps,
            "reps": self.reps,
            "warmup": self.warmup,
            "device": self.device,
            "workers": 0,
            "training_mode": self.training_mode.as_dict(),
            "images_per_s": {c: round(self.images_per_s(c), 3) for c in TRAIN_CONTENDERS},
            "value": None if self.value is None else round(self.value, 4),
            "with_loading": round(self.with_loading, 4),
            "deterministic_over_fast_kernels": round(self.kernels_cost, 4),
            "per_image": {
                c: stats([s / per_image for s in self.seconds[c]]) for c in TRAIN_CONTENDERS
            },
        }


# ------------------------------------------------------------------------- the loader


def _write_pngs(images: Sequence[np.ndarray], folder: Path) -> list[Item]:
    from jpegai_eval.framework.io.image_io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    for i, image in enumerate(images):
        path = folder / f"img{i:03d}.png"
        write_image(path, image)
        items.append((path, i))
    return items


class StepByStepAugment:
    """The paper preset's pixel augmentation as the loader applied it before issue #26:
    torchvision's transforms one after the other on a PIL image, then the float steps
    (to [0, 1], PCA lighting, ImageNet normalisation) on the whole image. Today's
    ``_PixelTrainTransform`` must give the same values bit for bit with the same RNG
    (tests/test_training_augment.py); this is the "before" of ``loader_per_core``."""

    def __init__(self, preset: Preset) -> None:
        from torchvision import transforms as T

        self.p = preset
        self.crop = T.RandomCrop(preset.pixel_crop)
        j = preset.color_jitter
        self.jitter = T.ColorJitter(j, j, j) if j else None

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        import torch
        from PIL import Image

        from jpegai_eval.tasks import training

        p = self.p
        size = (p.pixel_resize, p.pixel_resize)
        img = self.crop(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        if torch.rand(()) < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.jitter is not None:
            img = self.jitter(img)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        if p.pca_lighting:
            alpha = torch.randn(3) * p.pca_lighting
            x = x + (training.PCA_EIGVEC @ (alpha * training.PCA_EIGVAL))[:, None, None]
        return torch.from_numpy(training._normalise(x.numpy()))


def _dataset(items: Sequence[Item], preset: Preset, seed: int, before: bool) -> Any:
    """The training dataset of today, or (``before``) as issue #26 found it: the
    step-by-step augmentation, each item seeded with ``torch.manual_seed``."""
    import torch

    from jpegai_eval.tasks import training

    dataset = training.ItemDataset(items, "pixel", preset, train=True, seed=seed)
    if not before:
        return dataset

    class Before(training.ItemDataset):
        @staticmethod
        def seed_item(value: int) -> None:
            torch.manual_seed(value)  # every device's generator, as the loader did then

    old = Before(items, "pixel", preset, train=True, seed=seed)
    old.transform = StepByStepAugment(preset)
    return old


def _epoch_pass(
    items: Sequence[Item], preset: Preset, seed: int, before: bool
) -> Callable[[int], dict[str, float]]:
    """A contender: one pass of the training loader over ``items`` (epoch ``rep``)."""
    import torch

    from jpegai_eval.tasks import training

    dataset = _dataset(items, preset, seed, before)
    device = torch.device("cpu")
    mode = training.resolve_training_mode(device, None)

    def run(rep: int) -> dict[str, float]:
        dataset.epoch = rep
        loader = training._loader(
            dataset,
            batch_size=preset.batch_size,
            shuffle=True,
            workers=0,
            device=device,
            generator=torch.Generator().manual_seed(seed * 1000 + rep),
            mode=mode,
        )
        t0 = time.perf_counter()
        for _batch in loader:
            pass
        return {"total": time.perf_counter() - t0}

    return run


def _first_batch(items: Sequence[Item], preset: Preset, seed: int, before: bool) -> torch.Tensor:
    """The first batch the training's loader gives (no shuffling, no workers), on the
    old loader or today's (its batched
    :class:`~jpegai_eval.tasks.training.PixelDraw` collate)."""
    import torch

    from jpegai_eval.tasks import training

    device = torch.device("cpu")
    loader = training._loader(
        _dataset(items, preset, seed, before),
        batch_size=min(len(items), preset.batch_size),
        shuffle=False,
        workers=0,
        device=device,
        mode=training.resolve_training_mode(device, None),
    )
    return next(iter(loader))[0]


def loader_per_core(
    images: Sequence[np.ndarray],
    folder: Path,
    *,
    preset: str = "paper",
    reps: int = 3,
    warmup: int = 1,
    seed: int = 0,
    log: Callable[[str], None] = lambda _m: None,
) -> LoaderSpeed:
    """Images/s per core of the training loader, PNGs decoded every epoch vs decode-once
    rows of the same images (see the module's docstring)."""
    import torch

    from jpegai_eval.tasks import decode_once, training

    p = training.get_preset(preset)
    pngs = _write_pngs(images, folder / "loader-images")
    t0 = time.perf_counter()
    rows = decode_once.decode_once(
        pngs, p.pixel_resize, folder, training.load_image, training._resize_pil, workers=0
    )
    build_s = time.perf_counter() - t0
    if not isinstance(rows[0][0], decode_once.DecodedRow):
        raise UserError(
            f"The loader bench could not build its decode-once array in {str(folder)!r} "
            "(not enough free disk space for "
            f"{len(images)} images at {p.pixel_resize} px). Free some space in the "
            "temporary folder, or leave the training section out (--only)."
        )
    paths = dict(zip(LOADER_PATHS, (pngs, rows), strict=True))
    same = bool(torch.equal(_first_batch(pngs, p, seed, True), _first_batch(rows, p, seed, False)))
    log(f"  loader per core: {len(images)} images, {preset} augmentation, {warmup}+{reps} reps")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        contenders = {
            name: _epoch_pass(items, p, seed, before=name == LOADER_PATHS[0])
            for name, items in paths.items()
        }
        runs = interleaved(contenders, reps, warmup, 1)
    finally:
        torch.set_num_threads(threads)
    return LoaderSpeed(
        preset=p.name,
        images=len(images),
        image_size=int(images[0].shape[0]),
        resize=p.pixel_resize,
        batch=p.batch_size,
        reps=reps,
        warmup=warmup,
        seconds={name: [r["total"] for r in samples] for name, samples in runs.items()},
        decode_once_s=build_s,
        same_batches=same,
    )


# ------------------------------------------------------------------ train over bare


class _StampedImage:
    """An in-memory training source that notes when the loader reads it."""

    def __init__(self, image: np.ndarray, stamps: list[float]) -> None:
        self.image = image
        self.stamps = stamps

    def __call__(self) -> np.ndarray:
        self.stamps.append(time.perf_counter())
        return self.image


def _framework(
    model: nn.Module,
    data: Sequence[tuple[np.ndarray, int]],
    preset: Preset,
    steps: int,
    device: str,
) -> Callable[[int], dict[str, float]]:
    """A contender: ``train_classifier`` on a fresh copy of ``model`` for ``steps + 1``
    batches, timed over the first ``steps`` (see the module's docstring)."""
    from jpegai_eval.tasks.training import train_classifier

    def run(_rep: int) -> dict[str, float]:
        stamps: list[float] = []
        items = [(_StampedImage(image, stamps), label) for image, label in data]
        with tempfile.TemporaryDirectory(prefix="jpegai-bench-train-") as out:
            train_classifier(
                copy.deepcopy(model),
                items,
                preset,
                "pixel",
                out,
                device=device,
                workers=0,
                progress=False,
                limit_batches=steps + 1,
                decode_once=False,
            )
        return {"total": stamps[steps * preset.batch_size] - stamps[0]}

    return run


def _bare(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    preset: Preset,
    device: torch.device,
    mode: TrainingMode,
    kernels: TrainingMode | None = None,
) -> Callable[[int], dict[str, float]]:
    """A contender: a plain PyTorch loop over ``batches`` on a fresh copy of ``model``,
    in ``mode``'s precision and with ``kernels``' kernel choice (deterministic or not;
    ``mode``'s by default), as the framework sets it around its training."""
    import contextlib

    import torch
    from torch import nn

    from jpegai_eval.tasks.training import kernels_for

    def run(_rep: int) -> dict[str, float]:
        net = copy.deepcopy(model).to(device).train()
        if mode.channels_last:
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(
            net.parameters(),
            lr=preset.lr,
            momentum=preset.momentum,
            weight_decay=preset.weight_decay,
        )
        loss_fn = nn.CrossEntropyLoss()
        precision: contextlib.AbstractContextManager[Any] = (
            torch.autocast(device.type, dtype=getattr(torch, mode.autocast))
            if mode.autocast
            else contextlib.nullcontext()
        )
        _sync(device)
        with kernels_for(kernels or mode):
            t0 = time.perf_counter()
            _steps(net, opt, loss_fn, precision, batches, device, mode)
            _sync(device)
            return {"total": time.perf_counter() - t0}

    return run


def _steps(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: nn.Module,
    precision: Any,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    mode: TrainingMode,
) -> None:
    """The bare loop's steps."""
    import torch

    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if mode.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with precision:
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()


def _loading(
    batches: Callable[[], list[tuple[torch.Tensor, torch.Tensor]]],
) -> Callable[[int], dict[str, float]]:
    """A contender: the framework's loading of the timed batches alone."""

    def run(_rep: int) -> dict[str, float]:
        t0 = time.perf_counter()
        batches()
        return {"total": time.perf_counter() - t0}

    return run


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def train_over_bare(
    images: Sequence[np.ndarray],
    *,
    preset: str,
    batch: int | None = None,
    steps: int = 2,
    reps: int = 3,
    warmup: int = 1,
    device: str = "cpu",
    seed: int = 0,
    log: Callable[[str], None] = lambda _m: None,
) -> TrainSpeed:
    """The framework's training loop over a bare PyTorch loop, images/s, on the pixel
    classifier of ``preset`` (``batch`` images a step, the preset's without one)."""
    import torch
    from torch.utils.data import default_collate

    from jpegai_eval.tasks import training
    from jpegai_eval.tasks.models import NUM_CLASSES, build_classifier

    overrides = {"epochs": 1} if batch is None else {"epochs": 1, "batch_size": batch}
    p = training.get_preset(preset, **overrides)
    count = (steps + 1) * p.batch_size
    resized = [
        np.asarray(training._resize_pil(images[i % len(images)], p.pixel_resize), np.uint8)
        for i in range(count)
    ]
    data = [(image, i % NUM_CLASSES) for i, image in enumerate(resized)]
    torch.manual_seed(seed)
    model = build_classifier("pixel", num_classes=NUM_CLASSES, width=p.width)
    dev = training.resolve_device(device)
    mode = training.resolve_training_mode(dev, None)
    dataset = training.ItemDataset(
        [(_StampedImage(im, []), label) for im, label in data], "pixel", p, train=True, seed=seed
    )

    def make_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
        size = p.batch_size
        return [
            default_collate([dataset[i] for i in range(k * size, (k + 1) * size)])
            for k in range(steps)
        ]

    log(
        f"  train over bare: {type(model).__name__} ({p.name}, width {p.width}), batch "
        f"{p.batch_size}, {steps} steps, {warmup}+{reps} reps on {dev}"
    )
    fast = dataclasses.replace(mode, deterministic=False)
    contenders = {
        "framework": _framework(model, data, p, steps, str(dev)),
        "bare": _bare(model, make_batches(), p, dev, mode),
        "loading": _loading(make_batches),
        "bare_fast_kernels": _bare(model, make_batches(), p, dev, mode, kernels=fast),
    }
    runs = interleaved(contenders, reps, warmup, 1)
    return TrainSpeed(
        preset=p.name,
        model=type(model).__name__,
        width=p.width,
        input_size=p.pixel_crop,
        batch=p.batch_size,
        steps=steps,
        reps=reps,
        warmup=warmup,
        device=str(dev),
        training_mode=mode,
        seconds={name: [r["total"] for r in samples_] for name, samples_ in runs.items()},
    )
