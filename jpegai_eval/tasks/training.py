"""Training and evaluating the classifiers: presets, augmentations, checkpoints, Top-k.

Presets (:data:`PRESETS`):

``paper`` -- Section 4 of the paper. Pixel domain: resize to 256x256, random crop 224,
horizontal flip, colour jitter (brightness, contrast, saturation 0.4) and PCA lighting
noise (AlexNet-style, std 0.1, ImageNet eigenvectors), as in Deep TEN. Latent domain:
resize to 32x32 (bilinear), random crop 28, horizontal flip. SGD, momentum 0.9, weight
decay 5e-4, batch 32, lr 0.01 divided by 10 after epochs 10 and 20, 30 epochs.
Evaluation: resize, then center crop 224 / 28.

``quick`` -- for the demo dataset, ``make demo`` and smoke runs on a CPU: the same
augmentations, Table 1's architectures at a quarter of their width (``width=0.25``:
every layer, same depth and blocks; about 1/16 of the MACs), images at their native
128 px (resize 128, crop 112: the codec's artefacts are not resized away), latents
resized 16, cropped 14 (the demo's 128x128 images give 8x8 latents at stride 16; the
paper likewise enlarges MINC's 23x23 latents to 32 before cropping 28). The classifiers
start from the shipped texture stand-in for ImageNet (:mod:`jpegai_eval.tasks.standin`),
as ``paper`` starts from ImageNet. Batch 16, lr 0.01 divided by 10 after epoch 6, 8
epochs. ``docs/demo.md`` has what it reaches.

``smoke`` -- for the test suite only: one epoch at 32-pixel crops (4x4 latents), so an
end-to-end run of every anchor finishes in seconds. Its accuracies mean nothing.

Latent sizes and the codec's stride: a preset's ``latent_resize`` / ``latent_crop`` are
those of a stride-16 codec (:data:`REFERENCE_STRIDE`; the paper's 28 = 448 px / 16,
beside 224-pixel crops). A codec of another stride keeps the paper's ratio, latent side
= pixel side / stride: its sizes are scaled by 16 / stride and rounded
(:func:`latent_preset`), so a stride-8 codec's classifier sees 56x56 under ``paper``
(64 resized), 28 under ``quick``, 8 under ``smoke`` -- twice the resolution, four times
the multiply-accumulates -- and a stride-16 codec exactly the numbers above.

Data: a classifier reads *items*, ``(source, label)`` pairs. A source is a path (an
image file for the pixel domain, a ``.npz`` with the codec's latent tensors -- ``y_hat``
and ``sigma_hat``, or whatever its :class:`LatentSpec` names -- for the latent domain)
or a picklable zero-argument callable returning the (H, W, 3) uint8 image or the
``{name: array}`` dict. :class:`ItemDataset` opens one item at a time, in DataLoader
worker processes, so memory does not grow with the dataset.

Model inputs: pixel -- float32 (3, C, C), ImageNet-normalised; latent -- float32
(total channels, C, C), the spec's tensors concatenated in its order, each of another
stride than y_hat's first resized (bilinear) to y_hat's grid (:func:`stack_latents`;
without a spec: y_hat then sigma_hat, see :class:`~jpegai_eval.tasks.models.CResNet39`).
:func:`eval_transform` gives the exact evaluation preprocessing as a numpy function, for
onnxruntime.

Checkpoints: ``out_dir/checkpoint.pt`` after every epoch (written to a temporary file
and renamed); a training started again with the same settings resumes after the last
finished epoch, and a finished one returns at once. Checkpoints hold tensors and plain
values only and are read with ``torch.load(..., weights_only=True)``: a run folder is
never trusted to run code (:func:`read_checkpoint`).

Training: :func:`train_classifier` resolves the device, the training mode and the data
(decoded once), then a :class:`Trainer` resumes, runs the epochs and saves after each;
:func:`train_step` is one optimisation step on one batch (what ``bench`` times).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, TypeVar, cast

import numpy as np
import torch
from torch import nn

from jpegai_eval.framework.api.types import DOMAINS, LatentSpec
from jpegai_eval.framework.errors import DatasetError, UsageError, UserError
from jpegai_eval.framework.io.image_io import TEMP_PREFIX, temp_path
from jpegai_eval.framework.run.scoring import EvalResult, topk_from_logits
from jpegai_eval.framework.run.training_mode import TrainingMode, training_mode
from jpegai_eval.tasks.classes import CORRUPT_IMAGE_POLICY
from jpegai_eval.tasks.models import InitJson

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from jpegai_eval.tasks.data_parallel import DataParallel

Source = str | os.PathLike | Callable[[], Any]
Item = tuple[Source, int]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# AlexNet's PCA lighting noise on ImageNet RGB (as used by Deep TEN).
PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
PCA_EIGVEC = torch.tensor(
    [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]
)
CHECKPOINT = "checkpoint.pt"


# ------------------------------------------------------------------------------ presets


@dataclass(frozen=True)
class Preset:
    """A training recipe. Sizes are square: resize to ``*_resize``, crop ``*_crop``."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    milestones: tuple[int, ...]
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    pixel_resize: int = 256
    pixel_crop: int = 224
    latent_resize: int = 32
    latent_crop: int = 28
    color_jitter: float = 0.4
    pca_lighting: float = 0.1
    eval_batch_size: int = 64
    #: Channel width multiplier of ResNet-50 and cResNet-39 (1: Table 1's models).
    width: float = 1.0

    def input_size(self, domain: str) -> int:
        """The crop side of ``domain`` (latent: at stride 16, see :func:`latent_preset`)."""
        return self.pixel_crop if domain == "pixel" else self.latent_crop

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The stride a preset's latent sizes are stated for (the paper's hyperprior).
REFERENCE_STRIDE = 16
#: (name, stride) of the latent tensors read when no LatentSpec is given: the paper's.
PAPER_LATENTS: tuple[tuple[str, int], ...] = (("y_hat", 16), ("sigma_hat", 16))


def latent_preset(preset: str | Preset, spec: LatentSpec | None) -> Preset:
    """``preset`` with its latent resize and crop for ``spec``'s stride (y_hat's): scaled
    by 16 / stride and rounded, the paper's ratio (see the module docstring); unchanged
    at stride 16 or without a spec."""
    p = get_preset(preset)
    if spec is None or spec.stride == REFERENCE_STRIDE:
        return p
    scale = REFERENCE_STRIDE / spec.stride
    crop = max(1, round(p.latent_crop * scale))
    resize = max(crop, round(p.latent_resize * scale))
    return dataclasses.replace(p, latent_resize=resize, latent_crop=crop)


def latent_layout(spec: LatentSpec | None) -> tuple[tuple[str, int], ...]:
    """(name, stride) of each latent tensor a classifier of ``spec`` reads, in order."""
    return PAPER_LATENTS if spec is None else tuple((t.name, t.stride) for t in spec.tensors)


PRESETS: dict[str, Preset] = {
    "paper": Preset("paper", epochs=30, batch_size=32, lr=0.01, milestones=(10, 20)),
    "quick": Preset(
        "quick",
        epochs=8,
        batch_size=16,
        lr=0.01,
        milestones=(6,),
        pixel_resize=128,
        pixel_crop=112,
        latent_resize=16,
        latent_crop=14,
        width=0.25,
    ),
    "smoke": Preset(
        "smoke",
        epochs=1,
        batch_size=8,
        lr=0.01,
        milestones=(),
        pixel_resize=36,
        pixel_crop=32,
        latent_resize=5,
        latent_crop=4,
    ),
}


def get_preset(preset: str | Preset, **overrides: Any) -> Preset:
    """A preset by name (or as given), with fields replaced by ``overrides``."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise UsageError(
                f"Unknown training preset {preset!r}; the presets are {', '.join(PRESETS)}."
            )
        preset = PRESETS[preset]
    return dataclasses.replace(preset, **overrides) if overrides else preset


def spec_of(model: nn.Module, given: LatentSpec | None = None) -> LatentSpec | None:
    """``given``, else the LatentSpec ``model`` was built for (a cResNet-39's
    ``latent_spec``), else None (the paper's y_hat and sigma_hat at stride 16)."""
    if given is not None:
        return given
    found = getattr(model, "latent_spec", None)
    return found if isinstance(found, LatentSpec) else None


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise UsageError(f"Unknown domain {domain!r}; the domains are {', '.join(DOMAINS)}.")


def resolve_device(device: str | None = "auto") -> torch.device:
    """The torch device for ``--device``
    (:func:`jpegai_eval.framework.run.runfolder.resolve_device`:
    ``auto`` takes CUDA when present; ``cuda`` without a GPU is a clear error)."""
    from jpegai_eval.framework.run.runfolder import resolve_device as resolve

    return torch.device(resolve(device))


def default_workers() -> int:
    """DataLoader worker processes: one per core but one, at most 8."""
    return min(8, max(0, (os.cpu_count() or 1) - 1))


# -------------------------------------------------------------------------- loading


def _unwrap_worker_message(message: str) -> str:
    """A UserError raised in a DataLoader worker comes back with the worker's traceback
    in its message; keep the original one-paragraph message."""
    if "Traceback" not in message:
        return message
    last = [ln for ln in message.strip().splitlines() if ln.strip()][-1]
    return last.split(": ", 1)[1] if ": " in last else last


def load_image(source: Source) -> np.ndarray:
    """An (H, W, 3) uint8 image from a path or a callable; a bad file stops the run."""
    if callable(source):
        image = source()
    else:
        from jpegai_eval.framework.io.image_io import read_image

        try:
            image = read_image(source)
        except UserError as exc:
            raise DatasetError(
                f"Corrupt or unreadable image {str(source)!r}: {exc.message} The corrupt-"
                f"image policy is {CORRUPT_IMAGE_POLICY!r}: the run stops rather than "
                "computing accuracy on fewer images. Replace the file or remove its line "
                "from the label file; `jpegai-eval task check minc --decode` finds them all."
            ) from None
    return np.ascontiguousarray(image, dtype=np.uint8)


def load_latents(source: Source, layout: tuple[tuple[str, int], ...] = PAPER_LATENTS) -> np.ndarray:
    """The latent tensors of ``layout`` ((name, stride) pairs, :func:`latent_layout`;
    default y_hat and sigma_hat) concatenated along channels on y_hat's grid, float32
    (:func:`stack_latents`)."""
    names = [name for name, _ in layout]
    if callable(source):
        data = source()
    else:
        try:
            with np.load(source, allow_pickle=False) as npz:
                data = {k: npz[k] for k in names}
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DatasetError(
                f"Cannot read latents from {str(source)!r} ({type(exc).__name__}: {exc}); a "
                f"latents file is a .npz with arrays {' and '.join(names)}. The run folder's "
                "cache entry is damaged: delete that file and rerun the same command, and "
                "the encode stage writes it again."
            ) from None
    return stack_latents(data, layout, source)


def stack_latents(
    data: Any, layout: tuple[tuple[str, int], ...] = PAPER_LATENTS, source: object = None
) -> np.ndarray:
    """``data``'s tensors of ``layout`` concatenated along channels, float32 (total
    channels, h, w) on the first's (y_hat's) h x w grid: a tensor of another stride is
    resized to it (bilinear); one of the same stride and another size is a DatasetError."""
    missing = [name for name, _ in layout if name not in data]
    if missing:
        raise DatasetError(
            f"Latents of {source!r} lack {', '.join(missing)} (they hold {', '.join(data)}); "
            "the classifier reads every tensor of the codec's LatentSpec: "
            f"{', '.join(n for n, _ in layout)}."
        )
    arrays = [np.asarray(data[name], np.float32) for name, _ in layout]
    y, y_stride = arrays[0], layout[0][1]
    shapes = " and ".join(f"{n} {a.shape}" for (n, _), a in zip(layout, arrays, strict=True))
    if any(a.ndim != 3 for a in arrays):
        raise DatasetError(
            f"Latents of {source!r} have shapes {shapes}; each must be (channels, h, w)."
        )
    out = [y]
    for (_, stride), a in zip(layout[1:], arrays[1:], strict=True):
        if a.shape[1:] != y.shape[1:]:
            if stride == y_stride:
                raise DatasetError(
                    f"Latents of {source!r} have shapes {shapes}; all must be (channels, h, "
                    "w) with the same h and w."
                )
            a = _resize_latent(torch.from_numpy(a), y.shape[1:]).numpy()
        out.append(a)
    return np.concatenate(out, axis=0) if len(out) > 1 else np.ascontiguousarray(y)


# --------------------------------------------------------------------- preprocessing


def _resize_pil(image: np.ndarray, size: int) -> PILImage:
    from PIL import Image

    return Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)


def _normalise(chw01: np.ndarray) -> np.ndarray:
    return ((chw01 - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]).astype(np.float32)


#: Arrays or tensors of planes, (..., H, W): what :func:`_center_crop` crops.
_Planes = TypeVar("_Planes", np.ndarray, torch.Tensor)


def _check_crop(height: int, width: int, crop: int) -> None:
    if crop > height or crop > width:
        raise UsageError(f"Crop {crop} is larger than the resized input {height}x{width}.")


def _center_crop(x: _Planes, crop: int) -> _Planes:
    """The centred ``crop`` x ``crop`` window of the last two axes (a view)."""
    h, w = x.shape[-2:]
    _check_crop(h, w, crop)
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top : top + crop, left : left + crop]


def _resize_latent(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of latents (C, H, W) to ``size`` (align_corners False). The
    interpolation runs on a channels-last copy: torch's kernel for that layout gives
    the same values as for (C, H, W) and is 5x faster on many channels at small sizes
    (384 x 23 x 23 to 32: 0.14 ms against 0.8), which matters at batch 1 in the
    compressed-domain pipeline. The result is channels-last strided; callers copy it."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == hw:
        return x
    hwc = x.permute(1, 2, 0).contiguous()[None].permute(0, 3, 1, 2)
    return torch.nn.functional.interpolate(hwc, size=hw, mode="bilinear", align_corners=False)[0]


class _EvalTransform:
    """Resize then center crop; picklable, so DataLoader workers can use it."""

    def __init__(
        self, domain: str, p: Preset, layout: tuple[tuple[str, int], ...] = PAPER_LATENTS
    ) -> None:
        self.domain = domain
        self.p = p
        self.layout = layout

    def __call__(self, x: Any) -> np.ndarray:
        p = self.p
        if self.domain == "pixel":
            arr = np.asarray(_resize_pil(x, p.pixel_resize), dtype=np.float32) / 255.0
            chw = _normalise(arr.transpose(2, 0, 1))
            return np.ascontiguousarray(_center_crop(chw, p.pixel_crop))
        if isinstance(x, dict):
            x = stack_latents(x, self.layout)
        t = _resize_latent(torch.from_numpy(np.asarray(x, np.float32)), p.latent_resize)
        # torch copies the channels-last crop to (C, crop, crop) 2x faster than numpy
        return _center_crop(t, p.latent_crop).contiguous().numpy()


def eval_transform(
    domain: str, preset: str | Preset, latent_spec: LatentSpec | None = None
) -> Callable[[Any], np.ndarray]:
    """The deterministic evaluation preprocessing as ``f(image or latents) -> float32``.

    Pixel: an (H, W, 3) uint8 image to a (3, C, C) normalised array (resize, center
    crop). Latent: a ``{name: array}`` dict of ``latent_spec``'s tensors (default y_hat
    and sigma_hat; or the concatenated array) to a (total channels, C, C) array, C the
    crop for the spec's stride (:func:`latent_preset`). Batch the results with
    ``np.stack`` to feed onnxruntime.
    """
    _check_domain(domain)
    return _EvalTransform(domain, latent_preset(preset, latent_spec), latent_layout(latent_spec))


class _ToTensor:
    def __init__(self, fn: Callable[[Any], np.ndarray]) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> torch.Tensor:
        return torch.from_numpy(self.fn(x))


class _PixelTrainTransform:
    """The paper preset's pixel augmentation: resize, random crop, flip, colour jitter
    (PIL, torchvision's ``ColorJitter``), PCA lighting and ImageNet normalisation.

    The crop acts on the array before PIL sees it and the flip is applied by the
    lookup (colour jitter commutes with it), and the last three float steps (to
    [0, 1], the lighting offset, the normalisation) run as one per-channel 256-entry
    lookup table built with the same float32 operations in the same order: every value
    is bit-identical to applying the steps to the image one after the other, at a
    quarter of the cost (``bench``'s ``loader_per_core``;
    tests/test_training_augment.py checks the identity). The RNG draws are
    torchvision's, in its order."""

    def __init__(self, p: Preset) -> None:
        from torchvision import transforms as T

        self.p = p
        self.jitter = (
            T.ColorJitter(p.color_jitter, p.color_jitter, p.color_jitter)
            if p.color_jitter
            else None
        )
        self.levels = np.arange(256, dtype=np.float32)[None, :] / 255.0

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        """The augmented (3, crop, crop) float32 input of one image."""
        draw = self.draw(image)
        c = self.p.pixel_crop
        out = np.empty((3, c, c), dtype=np.float32)
        draw.fill(out)
        return torch.from_numpy(out)

    def draw(self, image: np.ndarray) -> PixelDraw:
        """Every random draw of one image's augmentation, applied up to the float
        steps: the jittered crop and its table (:meth:`PixelDraw.fill` finishes it)."""
        from PIL import Image

        size = self.p.pixel_resize
        if image.shape[:2] != (size, size):
            image = np.asarray(_resize_pil(image, size))
        top, left = _crop_origin(size, size, self.p.pixel_crop)
        c = self.p.pixel_crop
        image = image[top : top + c, left : left + c]
        # The flip is drawn here, as torchvision's order has it, and applied with the
        # table below: colour jitter is per pixel (contrast's mean is over all of them),
        # so it commutes with a flip, and the table reads the pixels in any order.
        flip = bool(torch.rand(()) < 0.5)
        if self.jitter is not None:
            image = np.asarray(self.jitter(Image.fromarray(np.ascontiguousarray(image))))
        if flip:
            image = image[:, ::-1]
        # The float steps per value, as a table: x / 255, + the lighting offset, then
        # (x - mean) / std, each in float32 as it was applied to the whole image.
        x = torch.from_numpy(self.levels)
        if self.p.pca_lighting:
            alpha = torch.randn(3) * self.p.pca_lighting
            x = x + (PCA_EIGVEC @ (alpha * PCA_EIGVAL))[:, None]
        return PixelDraw(image, _normalise(x.expand(3, 256).numpy()[:, :, None])[:, :, 0])


@dataclass(frozen=True)
class PixelDraw:
    """One image's pixel augmentation before its float steps: the cropped, flipped
    and jittered (crop, crop, 3) uint8 pixels and the (3, 256) float32 table of the
    rest. The training loader gathers a batch's draws and fills the batch tensor in
    place (:func:`collate_items`), with no per-image float array."""

    pixels: np.ndarray
    table: np.ndarray

    def fill(self, out: np.ndarray) -> None:
        """Write the (3, crop, crop) float32 input into ``out``."""
        for channel in range(3):
            np.take(self.table[channel], self.pixels[:, :, channel], out=out[channel])


def collate_items(items: Sequence[tuple[Any, int]]) -> Any:
    """The training loader's collate: a batch of :class:`PixelDraw` items is filled
    into one float32 tensor (the values :meth:`_PixelTrainTransform.__call__` gives,
    without a float array per image); any other batch is PyTorch's default collate."""
    if not items or not isinstance(items[0][0], PixelDraw):
        return torch.utils.data.default_collate(items)
    first = items[0][0].pixels
    batch = np.empty((len(items), 3, *first.shape[:2]), dtype=np.float32)
    for out, (draw, _) in zip(batch, items, strict=True):
        draw.fill(out)
    return torch.from_numpy(batch), torch.tensor([int(label) for _, label in items])


def _crop_origin(height: int, width: int, crop: int) -> tuple[int, int]:
    """torchvision's ``RandomCrop.get_params`` for a square crop: the same draws from
    the global RNG, in the same order (none when the crop is the whole image)."""
    _check_crop(height, width, crop)
    if height == crop and width == crop:
        return 0, 0
    top = int(torch.randint(0, height - crop + 1, size=(1,)).item())
    left = int(torch.randint(0, width - crop + 1, size=(1,)).item())
    return top, left


class _LatentTrainTransform:
    def __init__(self, p: Preset) -> None:
        self.p = p

    def __call__(self, latents: np.ndarray) -> torch.Tensor:
        x = _resize_latent(torch.from_numpy(latents), self.p.latent_resize)
        c = self.p.latent_crop
        h, w = x.shape[-2:]
        top = int(torch.randint(0, h - c + 1, ()))
        left = int(torch.randint(0, w - c + 1, ()))
        x = x[:, top : top + c, left : left + c]
        if torch.rand(()) < 0.5:
            x = torch.flip(x, dims=[2])
        return x.contiguous()


class ItemDataset(torch.utils.data.Dataset):
    """(input tensor, label) for each item; ``train`` picks augmentation or eval crops.

    With a ``seed``, the augmentation of item ``i`` in epoch :attr:`epoch` draws from a
    torch RNG seeded by (seed, epoch, i) alone, so the same seed gives the same batches
    whatever the number of DataLoader workers or the order they finish in."""

    def __init__(
        self,
        items: Sequence[Item],
        domain: str,
        preset: Preset,
        train: bool,
        seed: int | None = None,
        latent_spec: LatentSpec | None = None,
    ) -> None:
        _check_domain(domain)
        self.items = list(items)
        self.domain = domain
        self.seed = seed
        self.epoch = 0
        self.load: Callable[[Source], np.ndarray] = load_image
        if domain == "latent":
            self.load = functools.partial(load_latents, layout=latent_layout(latent_spec))
        if train:
            self.transform: Callable[[Any], Any] = (
                _PixelTrainTransform(preset)
                if domain == "pixel"
                else _LatentTrainTransform(latent_preset(preset, latent_spec))
            )
        else:
            self.transform = _ToTensor(eval_transform(domain, preset, latent_spec))

    def __len__(self) -> int:
        return len(self.items)

    def __getitems__(self, indexes: Sequence[int | tuple[int, int]]) -> list[tuple[Any, int]]:
        """A batch's items, for the DataLoader's fetcher: with the pixel training
        augmentation, each as its :class:`PixelDraw` (the same draws as
        :meth:`__getitem__`), which :func:`collate_items` turns into the batch tensor;
        otherwise the items as :meth:`__getitem__` gives them."""
        if not isinstance(self.transform, _PixelTrainTransform):
            return [self[i] for i in indexes]
        return [self._item(i, self.transform.draw) for i in indexes]

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        return self._item(index, self.transform)

    def _item(
        self, index: int | tuple[int, int], transform: Callable[[Any], Any]
    ) -> tuple[Any, int]:
        # An (epoch, index) pair comes from :class:`_EpochTagged` (persistent workers
        # hold a copy of this dataset whose ``epoch`` never changes).
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        source, label = self.items[index]
        if self.seed is None:
            return transform(self.load(source)), int(label)
        # The caller's RNG is left as it was, so the training loop (dropout) draws the
        # same numbers whether items load here or in worker processes.
        with torch.random.fork_rng(devices=[]):
            self.seed_item(item_seed(self.seed, epoch, index))
            return transform(self.load(source)), int(label)

    @staticmethod
    def seed_item(value: int) -> None:
        """Seed one item's draws: the CPU generator only (``torch.manual_seed`` would
        also queue a reseed of every accelerator's generator, and record a stack trace
        for each: 0.3 ms an item)."""
        torch.default_generator.manual_seed(value)


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one item in one epoch (see :class:`ItemDataset`)."""
    return ((seed * 1_000_003 + epoch) * 1_000_003 + index) % 2**63


def _seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a DataLoader worker from its torch seed (which the
    loader's seeded generator sets), for transforms that use them."""
    import random

    base = torch.initial_seed() % 2**32
    np.random.seed(base)
    random.seed(base)


class deterministic:  # noqa: N801 - used as a context manager
    """Deterministic kernels while training (``torch.use_deterministic_algorithms``,
    cuDNN without autotuning), restored afterwards. Where a kernel has no deterministic
    implementation (some CUDA ones), PyTorch warns instead of failing; the run's
    ``run.json`` says so (:func:`jpegai_eval.framework.run.runfolder.determinism`)."""

    def __enter__(self) -> None:
        self.saved = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
        )
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False

    def __exit__(self, *exc: object) -> None:
        enabled, warn_only, cudnn_det, cudnn_bench = self.saved
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cudnn.deterministic = cudnn_det
        torch.backends.cudnn.benchmark = cudnn_bench


class _fast_kernels:  # noqa: N801 - used as a context manager
    """cuDNN autotuning (``cudnn.benchmark``) as the mode says, restored afterwards."""

    def __init__(self, mode: TrainingMode) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self.saved = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.mode.cudnn_benchmark

    def __exit__(self, *exc: object) -> None:
        torch.backends.cudnn.benchmark = self.saved


def kernels_for(mode: TrainingMode) -> deterministic | _fast_kernels:
    return deterministic() if mode.deterministic else _fast_kernels(mode)


def autocast_for(mode: TrainingMode, device: torch.device) -> Any:
    """bf16 autocast of forward and loss in the fast mode, else nothing."""
    import contextlib

    if mode.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, mode.autocast))


def resolve_training_mode(device: torch.device, deterministic: bool | None) -> TrainingMode:
    """:func:`~jpegai_eval.framework.run.training_mode.training_mode` for ``device``,
    asking the GPU whether it has bf16."""
    bf16 = True
    if device.type == "cuda":
        bf16 = bool(torch.cuda.is_bf16_supported())
    return training_mode(str(device), deterministic, bf16_supported=bf16)


class _EpochShuffle(torch.utils.data.Sampler[int]):
    """A shuffle drawn from (seed, epoch) alone: the same order whether the workers
    persist or not (a DataLoader's own shuffle also depends on how often it started
    its workers)."""

    def __init__(self, dataset: ItemDataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1000 + self.dataset.epoch)
        return iter(torch.randperm(len(self.dataset), generator=g).tolist())


class _EpochTagged(torch.utils.data.Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)``: the dataset's current epoch travels with each index
    to persistent workers (see :meth:`ItemDataset.__getitem__`)."""

    def __init__(self, inner: Any, dataset: ItemDataset) -> None:
        self.inner = inner
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.dataset.epoch
        return ((epoch, int(i)) for i in self.inner)


def _loader(
    dataset: ItemDataset,
    batch_size: int,
    *,
    shuffle: bool,
    workers: int,
    device: torch.device,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    sampler: torch.utils.data.Sampler[int] | None = None,
    mode: TrainingMode | None = None,
) -> torch.utils.data.DataLoader[tuple[torch.Tensor, int]]:
    """The DataLoader of a training (``mode``) or an evaluation (None). A deterministic
    mode keeps PyTorch's loader as it always was (fresh workers each epoch, its own
    shuffle); the fast mode keeps workers alive, prefetches more, and shuffles with
    :class:`_EpochShuffle`."""
    if mode is None or not mode.persistent_workers:
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            generator=generator,
            drop_last=drop_last,
            persistent_workers=False,
            worker_init_fn=_seed_worker if workers else None,
            collate_fn=collate_items,
        )
    if sampler is None:
        seed = dataset.seed or 0
        sampler = (
            _EpochShuffle(dataset, seed) if shuffle else torch.utils.data.SequentialSampler(dataset)
        )
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=_EpochTagged(sampler, dataset),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        generator=generator,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        prefetch_factor=mode.prefetch_factor if workers > 0 else None,
        worker_init_fn=_seed_worker if workers else None,
        collate_fn=collate_items,
    )


# --------------------------------------------------------------------------- results


@dataclass
class TrainResult:
    """What a training did, recorded with the results."""

    model: str
    domain: str
    preset: str
    epochs: int
    device: str
    train_items: int
    seconds: float
    resumed_from_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    init: InitJson = field(default_factory=lambda: InitJson())
    checkpoint: str = ""
    corrupt_image_policy: str = CORRUPT_IMAGE_POLICY
    #: Under ``ddp``: this rank's part (``DataParallel.record`` in tasks/data_parallel.py).
    data_parallel: dict[str, Any] = field(default_factory=dict)
    #: How it trained (:class:`~jpegai_eval.framework.run.training_mode.TrainingMode`).
    training_mode: dict[str, Any] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else math.nan

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -------------------------------------------------------------------------- training


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file renamed onto ``path``; on failure (a full
    disk) the temporary file is deleted and the error is one paragraph."""
    tmp = temp_path(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(
            f"Cannot write the training checkpoint {str(path)!r} ({first}); is the disk "
            "full? Free some space and rerun the same command: the training resumes after "
            "its last saved epoch."
        ) from None


def _sweep_temporaries(out: Path) -> None:
    """Delete checkpoint temporaries left by a killed training (``kill -9``)."""
    for tmp in out.glob(f"{TEMP_PREFIX}*-{CHECKPOINT}"):
        tmp.unlink(missing_ok=True)


_CHECKPOINT_KEYS = ("config", "epoch", "model", "optimizer", "scheduler", "history")


class TrainingCheckpoint(TypedDict):
    """``checkpoint.pt`` of a classifier's training (written by :meth:`Trainer.save`)."""

    config: dict[str, object]
    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, object]
    scheduler: dict[str, object]
    history: list[dict[str, float]]
    seconds: NotRequired[float]
    init: NotRequired[InitJson | None]


def read_checkpoint(path: Path, device: Any = "cpu") -> TrainingCheckpoint:
    """A training checkpoint, read with ``weights_only=True`` (it holds tensors and plain
    values only); anything else -- a pickle that would run code, a damaged file, another
    kind of file -- is refused with a :class:`UserError` naming it."""
    from jpegai_eval.framework.io.safeload import torch_load

    remedy = (
        "Delete it (or the classifier folder holding it) and the training starts over; "
        "its other files are unaffected."
    )
    ckpt = torch_load(path, "the training checkpoint", remedy, map_location=device)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _CHECKPOINT_KEYS):
        raise UserError(
            f"{str(path)!r} is not a jpegai-eval training checkpoint (it lacks "
            f"{', '.join(_CHECKPOINT_KEYS)}). {remedy}"
        )
    return cast(TrainingCheckpoint, ckpt)  # its keys are checked above


def _config(
    model: nn.Module, items: Sequence[Item], preset: Preset, domain: str, seed: int
) -> dict[str, object]:
    return {
        "model": type(model).__name__,
        "domain": domain,
        "preset": preset.as_dict(),
        "train_items": len(items),
        "seed": seed,
    }


def _progress(
    iterable: Iterable[Any],
    desc: str,
    *,
    enabled: bool,
    total: int | None = None,
    leave: bool = False,
) -> Any:
    """A progress bar over ``iterable`` (:func:`jpegai_eval.framework.io.progress.progress`),
    shown when ``enabled``."""
    from jpegai_eval.framework.io.progress import progress

    return progress(
        iterable, desc=desc, total=total, disable=not enabled, leave=leave, unit="batch"
    )


def train_classifier(
    model: nn.Module,
    train_items: Sequence[Item],
    preset: str | Preset,
    domain: str,
    out_dir: str | os.PathLike[str],
    *,
    device: str | None = "auto",
    workers: int | None = None,
    seed: int = 0,
    val_items: Sequence[Item] | None = None,
    init: InitJson | None = None,
    progress: bool = True,
    limit_batches: int | None = None,
    log: Callable[[str], None] | None = None,
    ddp: bool = False,
    deterministic: bool | None = None,
    decode_once: bool = True,
    latent_spec: LatentSpec | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train_items``; checkpoint each epoch; resume
    (a :class:`Trainer` does the epochs).

    ``init`` is the initialisation record (``InitReport.as_dict()``), stored with the
    result. ``limit_batches`` caps the batches per epoch (smoke tests). ``log`` receives
    one line per epoch. The trained weights stay in ``model`` and in
    ``out_dir/checkpoint.pt`` (key ``"model"``).

    ``ddp``: every rank of the initialised process group calls this together and trains
    the one model data-parallel (:mod:`~jpegai_eval.tasks.data_parallel`: the preset's
    batch is the global batch); rank 0 alone writes the checkpoint. Ignored without a
    process group of several ranks.

    ``deterministic``: ``--deterministic`` / ``--no-deterministic``; None takes the
    device's default (on for the CPU, off for CUDA;
    :func:`~jpegai_eval.framework.run.training_mode.training_mode`). The fast mode trains
    with bf16 autocast and channels_last on CUDA; the weights stay fp32.

    ``decode_once``: pixel-domain images are decoded and resized once, into an array in
    ``out_dir`` deleted at the end (:mod:`~jpegai_eval.tasks.decode_once`; the same
    batches); not under ``ddp``.

    ``latent_spec``: the codec's compressed domain (which tensors the latent items hold,
    and the stride that sizes them, :func:`latent_preset`); None takes the model's
    (:func:`spec_of`), else the paper's y_hat and sigma_hat at stride 16.
    """
    from jpegai_eval.tasks import data_parallel
    from jpegai_eval.tasks import decode_once as once

    _check_domain(domain)
    p = get_preset(preset)
    if not train_items:
        raise DatasetError("No training items: the training split is empty.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ddp = ddp and data_parallel.process_group_size() > 1
    writer = not ddp or data_parallel.rank() == 0  # who writes the checkpoint
    if writer:
        _sweep_temporaries(out)
    dev = resolve_device(device)
    mode = resolve_training_mode(dev, deterministic)
    workers = default_workers() if workers is None else workers
    if decode_once and domain == "pixel" and not ddp:
        try:
            train_items = once.decode_once(
                train_items, p.pixel_resize, out, load_image, _resize_pil, workers, log
            )
        except UserError as exc:  # raised in a worker: keep its one paragraph
            raise type(exc)(_unwrap_worker_message(exc.message)) from None
    spec = spec_of(model, latent_spec) if domain == "latent" else None
    run = TrainRun(
        p, domain, out, dev, workers, seed, mode, ddp=ddp, writer=writer, latent_spec=spec
    )
    report = TrainReporting(val_items, progress=progress, limit_batches=limit_batches, log=log)
    with kernels_for(mode):
        result = Trainer(model, train_items, run, report, init).fit()
    if mode.channels_last:  # back to the layout ONNX export and evaluation expect
        model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    if decode_once and writer:
        once.remove(out)
    return result


@dataclass(frozen=True)
class TrainRun:
    """How one training runs, resolved by :func:`train_classifier`: the recipe, the
    domain, the checkpoint folder, the device, the loader's workers, the seed, the
    :class:`TrainingMode`; ``ddp`` (data parallel over a process group) and ``writer``
    (this process writes the checkpoint: rank 0, or the only one)."""

    preset: Preset
    domain: str
    out: Path
    device: torch.device
    workers: int
    seed: int
    mode: TrainingMode
    ddp: bool = dataclasses.field(default=False, kw_only=True)
    writer: bool = dataclasses.field(default=True, kw_only=True)
    #: The codec's compressed domain (latent domain; None: y_hat and sigma_hat, stride 16).
    latent_spec: LatentSpec | None = dataclasses.field(default=None, kw_only=True)


@dataclass(frozen=True)
class TrainReporting:
    """What a training reports as it goes: validation items evaluated after each epoch
    (None: none), a progress bar, a cap on the batches per epoch (smoke tests) and a
    function receiving one line per epoch."""

    val_items: Sequence[Item] | None = None
    progress: bool = dataclasses.field(default=True, kw_only=True)
    limit_batches: int | None = dataclasses.field(default=None, kw_only=True)
    log: Callable[[str], None] | None = dataclasses.field(default=None, kw_only=True)


def train_step(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    criterion: nn.Module,
    mode: TrainingMode,
    device: torch.device,
) -> tuple[float, int]:
    """ONE optimisation step of ``net`` on the batch ``(x, y)``: moved to ``device``
    (channels_last in the modes that use it), forward and loss under the mode's
    autocast, backward, ``optimizer.step()``. Returns the batch's summed loss and its
    number of correct Top-1 predictions."""
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if mode.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast_for(mode, device):
        logits = net(x)
        loss = criterion(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach()) * len(y), int((logits.argmax(1) == y).sum())


class Trainer:
    """One classifier's training: SGD with the preset's step schedule, resumed from
    ``out/checkpoint.pt`` (:meth:`resume`), one epoch at a time (:meth:`run_epoch`, each
    batch one :meth:`step`), a checkpoint after each (:meth:`save`); :meth:`fit` is the
    whole loop. Under ``run.ddp`` the steps run through the model's
    DistributedDataParallel wrapper (:mod:`~jpegai_eval.tasks.data_parallel`)."""

    def __init__(
        self,
        model: nn.Module,
        train_items: Sequence[Item],
        run: TrainRun,
        report: TrainReporting | None = None,
        init: InitJson | None = None,
    ) -> None:
        p = run.preset
        self.model, self.items, self.run, self.init = model, train_items, run, init
        self.report = report or TrainReporting()
        torch.manual_seed(run.seed)
        model.to(run.device)
        if run.mode.channels_last:
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(p.milestones), gamma=p.lr_gamma
        )
        self.criterion = nn.CrossEntropyLoss()
        sized = latent_preset(p, run.latent_spec) if run.domain == "latent" else p
        self.config = _config(model, train_items, sized, run.domain, run.seed)
        self.checkpoint = run.out / CHECKPOINT
        self.history: list[dict[str, float]] = []
        self.start_epoch = 0
        self.seconds = 0.0
        self.net: nn.Module = model  # what the steps run: the model or its DDP wrapper
        self.parallel: DataParallel | None = None  # under ddp

    def resume(self) -> None:
        """Continue from ``out/checkpoint.pt`` if there is one: the weights, optimiser,
        schedule, history, time and init record after its last finished epoch. A
        checkpoint of another training (other config) is a UserError."""
        path, p = self.checkpoint, self.run.preset
        if not path.is_file():
            return
        ckpt = read_checkpoint(path, self.run.device)
        if ckpt.get("config") != self.config:
            raise UserError(
                f"{str(path)!r} is a checkpoint of another training "
                f"({json.dumps(ckpt.get('config'))[:300]}); this one is "
                f"{json.dumps(self.config)[:300]}. Delete the file or choose another output "
                "folder."
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.history = list(ckpt["history"])
        self.start_epoch = int(ckpt["epoch"])
        self.seconds = float(ckpt.get("seconds", 0.0))
        self.init = ckpt.get("init", self.init)
        if self.report.log and self.start_epoch < p.epochs:
            self.report.log(f"Resuming from {path} after epoch {self.start_epoch}/{p.epochs}.")

    def prepare_data(self) -> None:
        """The training dataset and its loader; under ddp, the model wrapped and each
        rank's share of the preset's (global) batch."""
        from jpegai_eval.tasks import data_parallel

        run, p = self.run, self.run.preset
        self.dataset = ItemDataset(
            self.items, run.domain, p, train=True, seed=run.seed, latent_spec=run.latent_spec
        )
        self.generator = torch.Generator()
        if run.ddp:
            # Every rank the same number of steps of batch_size // world_size images (the
            # sampler pads the epoch to a multiple of the world size): no batch of one.
            self.parallel = data_parallel.prepare(
                self.model, self.dataset, p.batch_size, run.seed, run.device, p.name
            )
            self.net = self.parallel.wrapped
            self.loader = _loader(
                self.dataset,
                self.parallel.per_rank_batch,
                shuffle=False,
                sampler=self.parallel.sampler,
                workers=run.workers,
                device=run.device,
                generator=self.generator,
                mode=run.mode,
            )
        else:
            self.loader = _loader(
                self.dataset,
                p.batch_size,
                shuffle=True,
                drop_last=len(self.dataset) % p.batch_size == 1,  # BatchNorm needs 2
                workers=run.workers,
                device=run.device,
                generator=self.generator,
                mode=run.mode,
            )

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        """One optimisation step on one batch (:func:`train_step`)."""
        return train_step(
            self.net,
            x,
            y,
            self.optimizer,
            criterion=self.criterion,
            mode=self.run.mode,
            device=self.run.device,
        )

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """Train epoch ``epoch`` (0-based); its history row (loss, train top-1, lr, and
        val top-1/top-5 with validation items), summed over the ranks under ddp."""
        run = self.run
        self.generator.manual_seed(run.seed * 1000 + epoch)
        torch.manual_seed(run.seed * 1000 + epoch)
        self.dataset.epoch = epoch
        if self.parallel is not None:
            self.parallel.sampler.set_epoch(epoch)
        self.net.train()
        total_loss, correct, seen, n_batches = self._batches(epoch)
        self.scheduler.step()
        if self.parallel is not None:  # this rank's share, then the whole epoch's figures
            self.parallel.epochs.append({"epoch": epoch + 1, "samples": seen, "steps": n_batches})
            total_loss, correct_sum, seen_sum = self.parallel.sum_over_ranks(
                [total_loss, correct, seen], run.device
            )
            correct, seen = round(correct_sum), round(seen_sum)
        row: dict[str, float] = {
            "epoch": epoch + 1,
            "loss": total_loss / max(seen, 1),
            "train_top1": correct / max(seen, 1),
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        if self.report.val_items:
            val = evaluate(
                self.model,
                self.report.val_items,
                run.preset,
                run.domain,
                device=str(run.device),
                workers=run.workers,
                latent_spec=run.latent_spec,
            )
            row.update(val_top1=val.top1, val_top5=val.top5)
        return row

    def _batches(self, epoch: int) -> tuple[float, int, int, int]:
        """The steps of one epoch: summed loss, correct, images seen, batches."""
        limit, epochs = self.report.limit_batches, self.run.preset.epochs
        n_batches = len(self.loader) if limit is None else min(limit, len(self.loader))
        bar = _progress(
            self.loader,
            f"epoch {epoch + 1}/{epochs}",
            enabled=self.report.progress,
            total=n_batches,
            leave=True,
        )
        total_loss, correct, seen = 0.0, 0, 0
        try:
            for step, (x, y) in enumerate(bar):
                if step >= n_batches:
                    break
                loss, right = self.step(x, y)
                total_loss += loss
                correct += right
                seen += len(y)
                bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        except UserError as exc:
            raise type(exc)(_unwrap_worker_message(exc.message)) from None
        finally:
            bar.close()
        return total_loss, correct, seen, n_batches

    def save(self, epoch: int) -> None:
        """Write the checkpoint after ``epoch`` (1-based) finished (atomically)."""
        _atomic_save(
            {
                "config": self.config,
                "epoch": epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "history": self.history,
                "seconds": self.seconds,
                "init": self.init,
            },
            self.checkpoint,
        )

    def fit(self) -> TrainResult:
        """Resume, train the remaining epochs (checkpoint after each), return the result."""
        from jpegai_eval.tasks import data_parallel

        run, p = self.run, self.run.preset
        self.resume()
        self.prepare_data()
        for epoch in range(self.start_epoch, p.epochs):
            t0 = time.perf_counter()
            row = self.run_epoch(epoch)
            self.seconds += time.perf_counter() - t0
            row["seconds"] = round(time.perf_counter() - t0, 3)
            self.history.append(row)
            if run.writer:
                self.save(epoch + 1)
            if self.parallel is not None:
                self.parallel.barrier()  # the others wait for rank 0's checkpoint
            if self.report.log:
                extra = f", val top1 {row['val_top1']:.3f}" if "val_top1" in row else ""
                self.report.log(
                    f"epoch {epoch + 1}/{p.epochs}: loss {row['loss']:.4f}, train top1 "
                    f"{row['train_top1']:.3f}{extra} ({row['seconds']:.1f} s)"
                )
        if run.ddp:
            data_parallel.revert_sync_batchnorm(self.model)
        return self.result()

    def result(self) -> TrainResult:
        """What the training did, for the results."""
        run = self.run
        parallel = self.parallel
        return TrainResult(
            model=type(self.model).__name__,
            domain=run.domain,
            preset=run.preset.name,
            epochs=run.preset.epochs,
            device=str(run.device),
            train_items=len(self.items),
            seconds=round(self.seconds, 3),
            resumed_from_epoch=self.start_epoch,
            history=self.history,
            init=self.init or {"init": "scratch"},
            checkpoint=str(self.checkpoint),
            data_parallel={} if parallel is None else dict(parallel.record(len(self.items))),
            training_mode=run.mode.as_dict(),
        )


def load_trained(model: nn.Module, out_dir: str | os.PathLike[str]) -> nn.Module:
    """Load the weights of a finished training's checkpoint into ``model``."""
    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        raise UserError(f"No checkpoint at {str(path)!r}: train the classifier first.")
    ckpt = read_checkpoint(path, "cpu")
    model.load_state_dict(ckpt["model"])
    return model


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    items: Sequence[Item],
    preset: str | Preset,
    domain: str,
    device: str | None = "auto",
    workers: int | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    latent_spec: LatentSpec | None = None,
) -> np.ndarray:
    """(N, classes) float32 logits of ``model`` on ``items`` with the eval preprocessing
    (latent domain: of ``latent_spec``'s tensors, None: the model's, :func:`spec_of`)."""
    p = get_preset(preset)
    spec = spec_of(model, latent_spec) if domain == "latent" else None
    dev = resolve_device(device)
    workers = default_workers() if workers is None else workers
    model.to(dev).eval()
    loader = _loader(
        ItemDataset(items, domain, p, train=False, latent_spec=spec),
        batch_size or p.eval_batch_size,
        shuffle=False,
        workers=workers,
        device=dev,
    )
    out = []
    try:
        for x, _ in _progress(loader, "evaluate", enabled=progress):
            out.append(model(x.to(dev)).float().cpu().numpy())
    except UserError as exc:
        raise type(exc)(_unwrap_worker_message(exc.message)) from None
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate(
    model: nn.Module,
    items: Sequence[Item],
    preset: str | Preset,
    domain: str,
    device: str | None = "auto",
    workers: int | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    latent_spec: LatentSpec | None = None,
) -> EvalResult:
    """Top-1 / Top-5 of ``model`` (PyTorch) on ``items``, center-crop preprocessing."""
    logits = predict_logits(
        model, items, preset, domain, device, workers, batch_size, progress, latent_spec
    )
    return topk_from_logits(logits, [label for _, label in items])
