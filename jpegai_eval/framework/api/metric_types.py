"""Fidelity metrics as plugins: the metric record, its colour convention, the image pair
every metric reads, and the selection of metrics by name (``fast``, ``jpegai``, ``all``).

A :class:`Metric` declares its id, direction, unit and :class:`Convention` (8-bit RGB,
or BT.709 full-range YUV 4:4:4 at a bit depth, as JPEG AI's verification model (VM)
computes) and computes on a batch of :class:`ImagePair`. An :class:`ImagePair` converts
its two uint8 RGB images once per convention and shares the planes with every metric,
as the VM's ``DataClass`` does: RGB/255 rounded to ``bits``, then BT.709 full range,
clamped to [0, 1] and rounded to ``bits`` again.

Nothing here imports torch; numpy is imported where a pair is converted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.errors import ImageSizeError, UsageError, UserError

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: BT.709 luma weights (Kr, Kg, Kb) and the chroma divisors 2(1-Kb), 2(1-Kr).
BT709 = (0.2126, 0.7152, 0.0722, 1.8556, 1.5748)

#: The named sets ``--metrics`` accepts besides a list of ids.
METRIC_SETS = ("fast", "jpegai", "all")


class MetricUnavailableError(UserError):
    """A metric that cannot run here (a missing tool or library), asked for by name."""


class MetricError(UserError):
    """A metric's tool failed on an image (its message names the image and the tool)."""


@dataclass(frozen=True)
class Convention:
    """The representation a metric compares: ``"rgb"`` at 8 bits (the learned-compression
    papers' convention) or ``"yuv"``: BT.709 full-range YUV 4:4:4 at ``bits`` bits, the
    VM's, with ``plane`` saying which planes it reads (``"Y"``, ``"U"``, ``"V"``,
    ``"YUV"``, or ``"RGB"`` for the VM's RGB rounded to ``bits``)."""

    space: str
    bits: int
    plane: str

    def __str__(self) -> str:
        if self.space == "rgb":
            return f"RGB {self.bits}-bit"
        return f"YUV BT.709 full range 4:4:4 {self.bits}-bit, {self.plane}"


RGB8 = Convention("rgb", 8, "RGB")


def vm_convention(plane: str, bits: int = 10) -> Convention:
    """The VM's convention for a metric that reads ``plane`` (10 bits by default)."""
    return Convention("yuv", bits, plane)


@dataclass(frozen=True)
class ImagePair:
    """An original and its decoded image (uint8 H x W x 3 RGB, same shape), with the
    VM's planes computed on first use and shared by every metric of a batch."""

    original: NDArray[Any]
    decoded: NDArray[Any]
    name: str = ""
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_pair(self.original, self.decoded, self.name)

    @property
    def height(self) -> int:
        return int(self.original.shape[0])

    @property
    def width(self) -> int:
        return int(self.original.shape[1])

    def vm_rgb(self, bits: int = 10) -> tuple[NDArray[Any], NDArray[Any]]:
        """(original, decoded) RGB in [0, 1] rounded to ``bits``, float32 (3, H, W)."""
        key = ("rgb", bits)
        if key not in self._cache:
            self._cache[key] = (to_vm_rgb(self.original, bits), to_vm_rgb(self.decoded, bits))
        return self._cache[key]  # type: ignore[no-any-return]

    def vm_yuv(self, bits: int = 10) -> tuple[NDArray[Any], NDArray[Any]]:
        """(original, decoded) Y, U, V in [0, 1] rounded to ``bits``, float32 (3, H, W)."""
        key = ("yuv", bits)
        if key not in self._cache:
            a, b = self.vm_rgb(bits)
            self._cache[key] = (rgb_to_vm_yuv(a, bits), rgb_to_vm_yuv(b, bits))
        return self._cache[key]  # type: ignore[no-any-return]

    def plane(self, name: str, bits: int = 10) -> tuple[NDArray[Any], NDArray[Any]]:
        """One VM plane (``"Y"``, ``"U"`` or ``"V"``) of both images, in [0, 1]."""
        a, b = self.vm_yuv(bits)
        i = "YUV".index(name)
        return a[i], b[i]


def round_to_bits(x: NDArray[Any], bits: int) -> NDArray[Any]:
    """``round(x * (2^bits - 1)) / (2^bits - 1)``: the VM's ``round_plane``, in the
    dtype of ``x``."""
    import numpy as np

    top = x.dtype.type((1 << bits) - 1)
    return np.round(x * top) / top  # type: ignore[no-any-return]


def to_vm_rgb(image: NDArray[Any], bits: int) -> NDArray[Any]:
    """8-bit RGB (H, W, 3) to the VM's RGB: /255, rounded to ``bits``, (3, H, W),
    in float32 as the VM (torch's default dtype)."""
    import numpy as np

    x = image.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return round_to_bits(x, bits)


def rgb_to_vm_yuv(rgb: NDArray[Any], bits: int) -> NDArray[Any]:
    """RGB in [0, 1] (3, H, W) to BT.709 full-range YUV, clamped and rounded to
    ``bits``: the VM's ``rgb_to_yuv`` with its order of operations, in the dtype of
    ``rgb`` (float32 from :func:`to_vm_rgb`, as the VM)."""
    import numpy as np

    kr, kg, kb, d, e = (rgb.dtype.type(k) for k in BT709)
    half = rgb.dtype.type(0.5)
    r, g, b = rgb
    yuv = np.empty_like(rgb)
    yuv[0] = kr * r + kg * g + kb * b
    yuv[1] = (b - yuv[0]) / d + half
    yuv[2] = (r - yuv[0]) / e + half
    return round_to_bits(np.clip(yuv, 0, 1, out=yuv), bits)


def check_pair(original: Any, decoded: Any, name: str = "") -> None:
    """Refuse images that are not uint8 H x W x 3 of one shape, naming them."""
    import numpy as np

    where = f" ({name})" if name else ""
    for label, image in (("original", original), ("decoded", decoded)):
        if (
            not isinstance(image, np.ndarray)
            or image.dtype != np.uint8
            or image.ndim != 3
            or image.shape[2] != 3
        ):
            shape = getattr(image, "shape", None)
            dtype = getattr(image, "dtype", type(image).__name__)
            raise UsageError(
                f"The {label} image{where} is not 8-bit RGB (got shape {shape}, dtype "
                f"{dtype}): metrics compare uint8 H x W x 3 images. Convert it to 8-bit RGB "
                "(e.g. PNG) first."
            )
    if original.shape != decoded.shape:
        raise UsageError(
            f"The original and decoded images{where} differ in size: "
            f"{original.shape[1]}x{original.shape[0]} vs {decoded.shape[1]}x"
            f"{decoded.shape[0]} (width x height). Compare a decoded image with the "
            "original it was coded from."
        )


@dataclass(frozen=True)
class Metric:
    """One fidelity metric: what it is and how to compute it.

    ``compute`` takes a batch of :class:`ImagePair` and returns one float per pair.
    ``sets`` names the selections (``fast``, ``jpegai``) it belongs to; every metric is
    in ``all``. ``unavailable_reason`` says why it cannot run here (None when it can):
    such a metric is listed, never silently skipped. ``column`` is the name of its
    column in ``per_image.csv``/``results.csv`` (its id unless a legacy name).
    ``min_side`` is the smallest image side it computes on (:meth:`size_problem`).
    """

    id: str
    higher_is_better: bool
    unit: str
    convention: Convention
    compute: Callable[[Sequence[ImagePair]], list[float]] = field(repr=False, compare=False)
    description: str = ""
    sets: tuple[str, ...] = ()
    unavailable_reason: str | None = None
    column: str = ""
    implementation: str = ""
    min_side: int = 1

    @property
    def column_name(self) -> str:
        return self.column or self.id

    def size_problem(self, height: int, width: int) -> str | None:
        """Why an image of this size cannot be measured by this metric (None if it can)."""
        if min(height, width) >= self.min_side:
            return None
        return (
            f"{width}x{height} pixels, smaller than the metric {self.id} computes on "
            f"(at least {self.min_side} pixels a side). Leave {self.id} out of --metrics, or "
            "use larger images"
        )

    def __call__(self, pairs: Sequence[ImagePair]) -> list[float]:
        if self.unavailable_reason:
            raise MetricUnavailableError(
                f"Metric {self.id!r} cannot run here: {self.unavailable_reason}"
            )
        for pair in pairs:
            problem = self.size_problem(pair.height, pair.width)
            if problem:
                where = f"The image pair {pair.name}" if pair.name else "The image pair"
                raise ImageSizeError(f"{where} is {problem}.")
        values = [float(v) for v in self.compute(pairs)]
        if len(values) != len(pairs):
            raise RuntimeError(
                f"Metric {self.id!r} returned {len(values)} values for {len(pairs)} pairs."
            )
        return values


def spec_names(spec: str) -> list[str]:
    """The names a ``--metrics`` value gives (sets and ids), in order, blanks dropped;
    an id among them was named explicitly (not brought by a set)."""
    return [p.strip() for p in spec.split(",") if p.strip()]


def select_metrics(spec: str, metrics: Iterable[Metric]) -> list[Metric]:
    """The metrics ``spec`` names: ``fast``, ``jpegai``, ``all`` or ``ID,ID,...`` (sets
    and ids may be mixed), in registration order, each once. Unknown names fail listing
    the known ones."""
    from jpegai_eval.framework.errors import UnknownNameError

    known = list(metrics)
    by_id = {m.id: m for m in known}
    wanted: list[str] = []
    parts = spec_names(spec)
    if not parts:
        raise UsageError(
            f"--metrics {spec!r} names no metric. Give fast, jpegai, all or a "
            f"comma-separated list of ids ({', '.join(by_id)})."
        )
    for part in parts:
        if part == "all":
            wanted.extend(by_id)
        elif part in METRIC_SETS:
            wanted.extend(m.id for m in known if part in m.sets)
        elif part in by_id:
            wanted.append(part)
        else:
            raise UnknownNameError("metric", part, [*METRIC_SETS, *by_id])
    seen = set(wanted)
    return [m for m in known if m.id in seen]


@dataclass(frozen=True)
class MetricValues:
    """The selected metrics' values for one pair; ``unavailable`` maps the id of each
    metric that could not run to its reason."""

    values: dict[str, float]
    unavailable: dict[str, str]


def compute_metrics(metrics: Sequence[Metric], pairs: Sequence[ImagePair]) -> list[MetricValues]:
    """Every metric on every pair (one batch per metric); a metric that is unavailable
    is reported in ``unavailable`` for each pair instead of raising."""
    values: list[dict[str, float]] = [{} for _ in pairs]
    unavailable: dict[str, str] = {}
    for metric in metrics:
        if metric.unavailable_reason:
            unavailable[metric.id] = metric.unavailable_reason
            continue
        for row, value in zip(values, metric(pairs), strict=True):
            row[metric.id] = value
    return [MetricValues(v, dict(unavailable)) for v in values]


def psnr_from_mse(mse: float, peak: float, identical: float = math.inf) -> float:
    """``10 log10(peak^2 / mse)``, ``identical`` when ``mse`` is 0."""
    if mse == 0:
        return identical
    return 20.0 * math.log10(peak) - 10.0 * math.log10(mse)
