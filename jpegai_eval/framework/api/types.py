"""Base types that plugins implement: Codec, CodecModel, Task, Anchor, ReportWriter.

Nothing here imports torch, TensorFlow or onnxruntime: the CLI lists plugins in well
under a second. Implementations import their heavy backends where they use them.

Images cross every boundary as ``numpy.ndarray`` of shape ``(H, W, 3)`` and dtype
``uint8`` (RGB), so a codec plugin needs no knowledge of torch or PIL.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from jpegai_eval.framework.api.bitstream import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from jpegai_eval.framework.api.bitstream import max_pixels as env_max_pixels
from jpegai_eval.framework.errors import ImageSizeError, UsageError, UserError
from jpegai_eval.framework.io.json_types import Scalar

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from jpegai_eval.framework.api.bitstream import Header
    from jpegai_eval.framework.io.remote import RemoteFile

#: Where a classifier reads: decoded pixels, or the codec's compressed domain.
Domain = Literal["pixel", "latent"]
DOMAINS: tuple[Domain, ...] = get_args(Domain)
#: What an anchor trains or evaluates on: the original images, the codec's decoded
#: images, or its latents.
ImageSource = Literal["original", "decoded", "latents"]
IMAGE_SOURCES: tuple[ImageSource, ...] = get_args(ImageSource)

#: A learned codec's default cap: 4096 x 4096 (the hyperprior needs about 40 bytes of
#: activations per pixel, so 12000 x 12000 would try to allocate over 6 GB).
LEARNED_CODEC_MAX_PIXELS = 4096 * 4096


# --------------------------------------------------------------------------- codecs


@dataclass(frozen=True)
class LatentTensor:
    """One named tensor of a codec's compressed domain (``mu_hat``, a chroma latent...).

    A tensor of an H x W image is ``channels x ceil(H / stride) x ceil(W / stride)``.
    """

    name: str
    channels: int
    stride: int

    def shape_for(self, height: int, width: int) -> tuple[int, int, int]:
        """The (C, h, w) shape of this tensor for an image of ``height`` x ``width``."""
        return (self.channels, -(-height // self.stride), -(-width // self.stride))


@dataclass(frozen=True, repr=False)
class LatentSpec:
    """What a codec's compressed domain looks like, for building a classifier on it.

    The domain is a list of named tensors (:attr:`tensors`), each with its channels and
    stride. ``y_hat`` is always there: ``channels`` is M, its channel count, and
    ``stride`` its stride. ``sigma_channels`` is that of the hyperprior scale map
    ``sigma_hat`` (equal to M for a scale hyperprior; 0 for a codec without one, such as
    a factorized prior); ``others`` adds any further tensors (a mean-scale codec's
    ``mu_hat``, JPEG AI's chroma latent). ``latents()`` returns exactly
    :attr:`names`, in that order the classifier concatenates them.
    """

    channels: int
    stride: int
    sigma_channels: int = 0
    dtype: str = "float32"
    others: tuple[LatentTensor, ...] = ()

    def __post_init__(self) -> None:
        if self.channels < 1 or self.stride < 1 or self.sigma_channels < 0:
            raise ValueError(
                f"LatentSpec: channels and stride must be positive and sigma_channels "
                f"not negative (got {self.channels}, {self.stride}, {self.sigma_channels})"
            )
        names = [t.name for t in self.tensors]
        if len(set(names)) != len(names):
            raise ValueError(f"LatentSpec: tensor names repeat: {names}")
        for t in self.others:
            if t.channels < 1 or t.stride < 1:
                raise ValueError(f"LatentSpec: {t.name!r} needs positive channels and stride")

    @property
    def tensors(self) -> tuple[LatentTensor, ...]:
        """Every tensor of the domain: ``y_hat``, ``sigma_hat`` when declared, then others."""
        found = [LatentTensor("y_hat", self.channels, self.stride)]
        if self.sigma_channels:
            found.append(LatentTensor("sigma_hat", self.sigma_channels, self.stride))
        return (*found, *self.others)

    @property
    def names(self) -> tuple[str, ...]:
        """The names ``latents()`` returns, in the classifier's order."""
        return tuple(t.name for t in self.tensors)

    @property
    def total_channels(self) -> int:
        """The channels of all tensors together (the classifier's input)."""
        return sum(t.channels for t in self.tensors)

    def shape_for(self, height: int, width: int) -> tuple[int, int, int]:
        """The (C, h, w) shape of y_hat for an image of ``height`` x ``width``."""
        return self.tensors[0].shape_for(height, width)

    def to_json(self) -> dict[str, object]:
        """The spec as JSON (cache keys, ``meta.json``); ``others`` only when declared,
        so a y_hat + sigma_hat codec's key is the one it always had."""
        out: dict[str, object] = {
            "channels": self.channels,
            "stride": self.stride,
            "sigma_channels": self.sigma_channels,
            "dtype": self.dtype,
        }
        if self.others:
            out["others"] = [[t.name, t.channels, t.stride] for t in self.others]
        return out

    def __repr__(self) -> str:
        extra = f", others={self.others!r}" if self.others else ""
        return (
            f"LatentSpec(channels={self.channels}, stride={self.stride}, "
            f"sigma_channels={self.sigma_channels}, dtype={self.dtype!r}{extra})"
        )


#: The element types a latent tensor may declare (what the cache and the classifier read).
LATENT_DTYPES = ("float16", "float32", "float64")


def latent_spec_problem(spec: object) -> str | None:
    """What is wrong with ``spec`` as a codec's compressed domain, or None: it must be a
    :class:`LatentSpec` whose ``others`` are :class:`LatentTensor` records named by
    Python identifiers (they name ``.npz`` arrays and classifier branches) of positive
    channels and stride, with a float ``dtype``."""
    if not isinstance(spec, LatentSpec):
        return f"latent_spec is {spec!r}, not a LatentSpec"
    if not isinstance(spec.others, tuple) or not all(
        isinstance(t, LatentTensor) for t in spec.others
    ):
        return f"others must be a tuple of LatentTensor records (got {spec.others!r})"
    for t in spec.tensors:
        if not isinstance(t.name, str) or not t.name.isidentifier():
            return f"tensor name {t.name!r} is not a Python identifier"
        if not isinstance(t.channels, int) or not isinstance(t.stride, int):
            got = f"{t.channels!r}, {t.stride!r}"
            return f"{t.name}'s channels and stride must be integers (got {got})"
        if t.channels < 1 or t.stride < 1:
            return f"{t.name} needs positive channels and stride (got {t.channels}, {t.stride})"
    if spec.dtype not in LATENT_DTYPES:
        return f"dtype {spec.dtype!r} is not one of {', '.join(LATENT_DTYPES)}"
    return None


def checked_latent_spec(
    codec: Codec, quality: int, weights: str | None = None, *, given: object = None
) -> LatentSpec | None:
    """``codec.latent_spec(quality, weights)`` (or ``given``, a loaded model's) of a
    codec with a compressed domain, checked (:func:`latent_spec_problem`): what ``run``
    checks when it plans the run and when it loads the codec's models, before any image
    is encoded (``check_codec`` checks the same, and that ``latents()`` returns these
    tensors). None when the codec declares none before its weights load (the loaded
    model's is checked then, and a run that needs one and finds none stops:
    :func:`latent_spec_error`)."""
    spec: object = given
    why: str | None = None
    if given is None:
        try:
            spec = codec.latent_spec(quality, weights)
        except ValueError as exc:  # LatentSpec refuses bad values when it is built
            why = str(exc)
        if spec is None and why is None:
            return None
    why = why or latent_spec_problem(spec)
    if why is None:
        return spec  # type: ignore[return-value]
    raise latent_spec_error(codec, quality, f"is malformed: {why}")


def latent_spec_error(codec: Codec, quality: int, what: str) -> UserError:
    """The one-paragraph error for a codec whose compressed domain at ``quality``
    cannot be used (``what``: what is wrong with its ``latent_spec``)."""
    from jpegai_eval.framework.errors import PluginError

    return PluginError(
        f"Codec {codec.key} declares a compressed domain (has_compressed_domain) but its "
        f"latent_spec at quality {quality} {what}. The classifier on its latents is built "
        "from that spec, so the run stops before encoding. Fix the codec's latent_spec() "
        "or its model's latent_spec attribute (see LatentSpec and LatentTensor in "
        "jpegai_eval) and test it with jpegai_eval.testing.check_codec; or drop the "
        "compressed-domain anchors (--anchors)."
    )


@dataclass(frozen=True)
class RateParameter:
    """A conventional codec's continuous rate parameter (``--target-bpp`` searches it).

    ``name`` is the encoder's own setting (``quality``, ``compression_ratio``), from
    ``low`` to ``high``; ``integer`` when only whole values exist (libjpeg's quality);
    ``increases_rate`` says the direction: True when a larger value gives a larger file.
    """

    name: str
    low: float
    high: float
    integer: bool = False
    increases_rate: bool = True

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"RateParameter {self.name!r}: low must be below high")

    def clamp(self, value: float) -> float:
        """``value`` inside ``low..high`` (rounded when :attr:`integer`)."""
        value = min(max(float(value), self.low), self.high)
        return float(round(value)) if self.integer else value

    def describe(self) -> str:
        direction = "higher = more bits" if self.increases_rate else "higher = fewer bits"
        return f"{self.name} {self.low:g}..{self.high:g} ({direction})"


class Codec(ABC):
    """A codec family: one id, one backend, a ladder of qualities.

    A Codec instance is cheap to create and holds no weights; :meth:`load` returns a
    :class:`CodecModel` bound to one quality and one set of weights. One class can be
    registered many times with different settings (the hyperprior registers once per
    metric), the way CompressAI's zoo maps (architecture, metric, quality) to a model.
    """

    #: Registry id, e.g. ``"hyperprior-msssim"``. Several backends may share an id.
    id: str = ""
    #: Other names ``--codec`` accepts for this codec (e.g. CompressAI's zoo name
    #: ``mbt2018-mean`` for ``mbt2018-mean-msssim``); results and files carry :attr:`id`.
    aliases: tuple[str, ...] = ()
    #: Implementation, e.g. ``"compressai"``, ``"tfc"``, ``"pillow"``.
    backend: str = ""
    #: Qualities from lowest to highest rate.
    qualities: tuple[int, ...] = ()
    #: One line for ``jpegai-eval plugins``.
    description: str = ""
    #: True when :meth:`CodecModel.latents` exists (y_hat and sigma_hat).
    has_compressed_domain: bool = False
    #: Set when the backend cannot run here (e.g. a missing optional package); the
    #: codec is still listed, and using it raises a UserError with this reason.
    unavailable_reason: str | None = None
    #: The largest image (in pixels) :meth:`CodecModel.encode` accepts; larger ones are
    #: a UserError before any allocation. Learned codecs set a lower cap (their
    #: activations grow with the image). ``$JPEGAI_EVAL_MAX_PIXELS`` overrides it (the
    #: same variable caps ``.jai`` headers,
    #: :func:`~jpegai_eval.framework.api.bitstream.max_pixels`).
    max_pixels: int = DEFAULT_MAX_PIXELS
    #: The longest side (in pixels) the format can hold, e.g. 65500 for JPEG and 16383
    #: for WebP; None when only :attr:`max_pixels` limits it.
    max_side: int | None = None
    #: The shortest side (in pixels) the codec can code.
    min_side: int = 1

    def size_problem(self, height: int, width: int) -> str | None:
        """Why an image of ``width`` x ``height`` cannot be coded by this codec (too
        large a side, too many pixels, too small), or None when it can. Checked for
        every image before the first encode, and again by :meth:`CodecModel.encode`."""
        limit = self.pixel_limit()
        if height * width > limit:
            side = int(limit**0.5)
            return (
                f"too large: {width}x{height} = {height * width:,} pixels, more than codec "
                f"{self.key} accepts ({limit:,} pixels, about {side}x{side}); coding it would "
                "need more memory than a machine is likely to have. Downscale or crop it, or "
                f"raise the limit with {MAX_PIXELS_ENV}=N"
            )
        if self.max_side is not None and max(height, width) > self.max_side:
            return (
                f"too large: {width}x{height} has a side longer than codec {self.key} can hold "
                f"({self.max_side:,} pixels, a limit of the format). Downscale or crop it"
            )
        if min(height, width) < self.min_side:
            return (
                f"too small: {width}x{height}, the minimum for codec {self.key} is "
                f"{self.min_side}x{self.min_side} pixels. Use a larger image, or upscale it"
            )
        return None

    #: A conventional codec's continuous rate parameter, which ``run --target-bpp``
    #: searches per image (:mod:`jpegai_eval.framework.run.rate_points`); None: the codec
    #: has only its discrete :attr:`qualities` (the closest one per image is taken).
    parameter: RateParameter | None = None

    def pixel_limit(self) -> int:
        """``max_pixels``, or ``$JPEGAI_EVAL_MAX_PIXELS`` when set."""
        from jpegai_eval.framework.settings import value

        if value(MAX_PIXELS_ENV) is not None:
            return env_max_pixels()  # the one limit for images and .jai headers alike
        return self.max_pixels

    def check_quality(self, quality: int) -> int:
        """Return ``quality`` if this codec has it, else raise a UsageError listing them."""
        if quality not in self.qualities:
            known = ", ".join(str(q) for q in self.qualities)
            raise UsageError(
                f"Codec {self.key} has no quality {quality!r}; its qualities are {known}."
            )
        return quality

    def check_available(self) -> None:
        """Raise a UserError saying why this backend cannot run here, if it cannot."""
        if self.unavailable_reason:
            raise UserError(f"Codec {self.key} is unavailable: {self.unavailable_reason}")

    @property
    def key(self) -> str:
        """``id/backend``, unique in the registry."""
        return f"{self.id}/{self.backend}"

    def point_label(self, quality: int) -> str:
        """How a cell of this codec at ``quality`` is named (``q4``; a target rate's
        cell, ``0.25bpp``)."""
        return f"q{quality}"

    def latent_spec(self, quality: int, weights: str | None = None) -> LatentSpec | None:
        """The compressed domain at ``quality`` (for ``weights``, whose channel count may
        differ from the defaults), or None for pixel-only codecs."""
        return None

    def remote_files(
        self, quality: int, weights: str | None = None, weights_dir: str | None = None
    ) -> list[RemoteFile]:
        """Files from outside that :meth:`load` needs for ``quality`` and ``weights``
        (None: the backend's default) with ``weights_dir``: what ``jpegai-eval fetch``
        downloads ahead of time and ``fetch --list`` shows. Default: none."""
        return []

    def load_parameter(
        self,
        value: float | None,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        """A model encoding at ``value`` of :attr:`parameter`; its files carry quality 0
        in the ``.jai`` header ("rate-controlled"). ``None``: a model that only decodes
        such files. Only codecs with a :attr:`parameter` implement it."""
        raise UsageError(
            f"Codec {self.key} has no continuous rate parameter, only the qualities "
            f"{', '.join(str(q) for q in self.qualities)}."
        )

    @abstractmethod
    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        """A model for ``quality``. ``weights`` is backend-specific (``"demo"``,
        ``"pretrained"``, a file or folder path); None means the backend's default.
        ``weights_dir`` is the folder where downloadable weights are looked for
        (``--weights-dir``); a codec without such weights refuses a value other than
        None with a :class:`UsageError`. Every codec declares all four parameters: the
        registry refuses a codec whose ``load`` does not take ``weights_dir``."""


class CodecModel(ABC):
    """One codec at one quality with one set of weights: encode, decode, latents.

    A template method: the public methods wrap the payload in the self-describing
    ``.jai`` container (:mod:`jpegai_eval.framework.api.bitstream`) and check it; subclasses
    implement the ``_encode_payload`` / ``_decode_payload`` / ``_latents_payload`` steps.
    """

    #: The compressed domain of these weights (channels may differ from the codec's
    #: defaults when custom weights are loaded); None for pixel-only codecs.
    latent_spec: LatentSpec | None = None

    def __init__(self, codec: Codec, quality: int, weights_id: bytes = b"") -> None:
        self.codec = codec
        self.quality = quality
        #: A short digest of the weights, written into every bitstream so that a file
        #: is never decoded with weights other than those that encoded it.
        self.weights_id = weights_id

    # -- public API ----------------------------------------------------------------
    def encode(self, image: NDArray[Any]) -> bytes:
        """Encode an (H, W, 3) uint8 RGB image into a complete ``.jai`` file."""
        check_image(image)
        check_size(image, self.codec)
        payload, latent_shape = self._encode_payload(image)
        return self.container(image, payload, latent_shape)

    def container(
        self, image: NDArray[Any], payload: bytes, latent_shape: tuple[int, ...]
    ) -> bytes:
        """The ``.jai`` file of ``image``'s entropy-coded ``payload`` (for codecs that
        encode by other routes than :meth:`encode`, such as batches)."""
        from jpegai_eval.framework.api.bitstream import Header, pack

        header = Header(
            codec=self.codec.id,
            backend=self.codec.backend,
            quality=self.quality,
            height=int(image.shape[0]),
            width=int(image.shape[1]),
            latent_shape=tuple(int(s) for s in latent_shape),
            weights_id=self.weights_id,
        )
        return pack(header, payload)

    def decode(self, data: bytes) -> NDArray[Any]:
        """Reconstruct the (H, W, 3) uint8 image of a ``.jai`` file made by this model."""
        header, payload = self.open(data)
        return self._decode_payload(payload, header)

    def latents(self, data: bytes) -> dict[str, NDArray[Any]]:
        """``{"y_hat", "sigma_hat"}`` as float32 (C, h, w) arrays, from the bitstream only."""
        if not self.codec.has_compressed_domain:
            raise UserError(
                f"Codec {self.codec.key} has no compressed domain: it only decodes to pixels."
            )
        header, payload = self.open(data)
        return self._latents_payload(payload, header)

    def decode_stages(
        self, data: bytes, *, image: bool = True, latents: bool | None = None
    ) -> Decoded:
        """The staged decode: one pass over the bitstream giving the reconstruction
        (``image``), the compressed domain (``latents``; default: when the codec has
        one) or both, and the time of each stage. :meth:`decode` and :meth:`latents`
        give one output each (a codec implements them with the same stages, see
        ``compressai_hyperprior``); the encode stage asks for both at once, so the
        entropy decoding runs once per image. The container is checked first (a file
        of another codec, quality or weights is refused before any decoding)."""
        import time

        if latents is None:
            latents = self.codec.has_compressed_domain
        if latents and not self.codec.has_compressed_domain:
            raise UserError(
                f"Codec {self.codec.key} has no compressed domain: it only decodes to pixels."
            )
        t0 = time.perf_counter()
        header, payload = self.open(data)
        opened = time.perf_counter() - t0
        out = self._decode_stages(payload, header, image=image, latents=latents)
        out.times = {"open": opened, **out.times}
        return out

    def open(self, data: bytes) -> tuple[Header, bytes]:
        """The header and payload of a ``.jai`` file, refused (BitstreamError) unless this
        model (codec, backend, quality, weights) wrote it."""
        from jpegai_eval.framework.api.bitstream import check_matches, unpack

        header, payload = unpack(data)
        check_matches(header, self.codec.id, self.codec.backend, self.quality, self.weights_id)
        return header, payload

    # -- implemented by backends ---------------------------------------------------
    @abstractmethod
    def _encode_payload(self, image: NDArray[Any]) -> tuple[bytes, tuple[int, ...]]:
        """Return (entropy-coded payload, latent shape) for an image."""

    @abstractmethod
    def _decode_payload(self, payload: bytes, header: Header) -> NDArray[Any]:
        """Return the (H, W, 3) uint8 reconstruction, cropped to the header's size."""

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, NDArray[Any]]:
        raise NotImplementedError

    def _decode_stages(
        self, payload: bytes, header: Header, *, image: bool, latents: bool
    ) -> Decoded:
        """The staged decode of a checked payload. This default runs
        :meth:`_decode_payload` and :meth:`_latents_payload` one after the other (two
        passes); a codec that can share the entropy decoding overrides it."""
        import time

        out = Decoded(header, only={"decode": "image", "latents": "latents"})
        if image:
            t0 = time.perf_counter()
            out.image = self._decode_payload(payload, header)
            out.times["decode"] = time.perf_counter() - t0
        if latents:
            t0 = time.perf_counter()
            out.latents = self._latents_payload(payload, header)
            out.times["latents"] = time.perf_counter() - t0
        return out


@dataclass
class Decoded:
    """What one staged decode gives: the header, the reconstruction and/or the latents,
    and the seconds each stage took, in the order they ran.

    Stages named in ``only`` serve one output (``"image"`` or ``"latents"``); the
    others (container checks, entropy decoding, h_s) serve both, so :attr:`decode_time`
    is what :meth:`CodecModel.decode` alone costs and :attr:`latents_time` what
    :meth:`CodecModel.latents` alone costs, measured inside the one pass.
    """

    header: Header
    image: NDArray[Any] | None = None
    latents: dict[str, NDArray[Any]] | None = None
    times: dict[str, float] = field(default_factory=dict)
    only: dict[str, str] = field(default_factory=dict)

    def time_for(self, output: str) -> float:
        """Seconds of the stages that ``output`` (``"image"`` or ``"latents"``) needs."""
        other = "latents" if output == "image" else "image"
        return sum(t for name, t in self.times.items() if self.only.get(name) != other)

    @property
    def decode_time(self) -> float | None:
        return None if self.image is None else self.time_for("image")

    @property
    def latents_time(self) -> float | None:
        return None if self.latents is None else self.time_for("latents")


def check_image(image: Any) -> None:
    """Refuse anything but an (H, W, 3) uint8 array, naming what was given."""
    shape = getattr(image, "shape", None)
    dtype = str(getattr(image, "dtype", type(image).__name__))
    if shape is None or len(shape) != 3 or shape[2] != 3 or dtype != "uint8":
        raise UserError(
            f"Codecs take RGB images as (H, W, 3) uint8 arrays; got shape {shape} dtype "
            f"{dtype}. Load files with jpegai_eval.framework.io.image_io.read_image, which "
            "converts grayscale, RGBA and 16-bit images to 8-bit RGB."
        )


def check_size(image: Any, codec: Codec) -> None:
    """Refuse an image the codec cannot code (see :meth:`Codec.size_problem`)."""
    problem = codec.size_problem(int(image.shape[0]), int(image.shape[1]))
    if problem:
        raise ImageSizeError(f"The image is {problem}.")


def digest(data: bytes, size: int = 8) -> bytes:
    """A short, stable digest (BLAKE2b) used to fingerprint weights."""
    return hashlib.blake2b(data, digest_size=size).digest()


# ---------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Sample:
    """One image of a task split: a stable id (its path relative to the dataset
    root), where it is on disk, and its class index."""

    id: str
    path: Path
    label: int


@dataclass(frozen=True)
class TaskOption:
    """One dataset option a task declares: ``jpegai-eval run --task ID`` offers it as a
    command-line option, the task receives it as a keyword of :meth:`Task.samples`, and
    ``run.json`` records its value (defaults filled in) in ``config.task_options``.

    ``name`` is the keyword (``data_root``); ``flag`` the option on the command line,
    by default ``--`` and the name with dashes (``--data-root``). ``type`` is one of
    ``str``, ``int``, ``float``, ``"path"`` (a folder, kept as a string) or ``bool`` (a
    flag on the command line, given or not); ``choices`` restricts the values.
    """

    name: str
    type: Any = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    flag: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"TaskOption name {self.name!r} must be a Python identifier")
        if self.type not in (str, int, float, "path", bool):
            raise ValueError(
                f"TaskOption {self.name!r}: type must be str, int, float, bool or 'path'"
            )
        if not self.flag:
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))

    def convert(self, value: Any, task_id: str) -> Any:
        """``value`` as this option's type, checked against its choices; None stays None."""
        if value is None:
            return None
        converted: Any
        try:
            if self.type is bool:
                converted = _flag_value(value)
            else:
                converted = str(value) if self.type == "path" else self.type(value)
        except (TypeError, ValueError):
            kind = "a path" if self.type == "path" else f"a {self.type.__name__}"
            raise UsageError(
                f"Task {task_id!r}: {self.flag} takes {kind}; got {value!r}."
            ) from None
        if self.choices and converted not in self.choices:
            known = ", ".join(str(c) for c in self.choices)
            raise UsageError(
                f"Task {task_id!r}: {self.flag} must be one of {known}; got {value!r}."
            )
        return converted


def _flag_value(value: Any) -> bool:
    """A bool option's value: a bool, 0/1, or true/false/yes/no/on/off as text."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


class Task(ABC):
    """A vision task: its classes, its splits and its classifiers.

    The evaluator asks a task for the samples of a split, for a classifier of a
    domain (``"pixel"`` or ``"latent"``, the latter shaped by a codec's LatentSpec),
    and to train and evaluate it. Every method in :attr:`REQUIRED` is abstract: a
    task class without one cannot be instantiated, and the registry refuses such a
    task when its plugin loads, so it fails at start, never after the encode stage.

    A task owns its dataset options (:attr:`options`): ``jpegai-eval run --task ID``
    builds its command-line options from them, and :meth:`samples` receives their
    values as keywords.
    """

    id: str = ""
    description: str = ""
    #: Training presets, e.g. ``("paper", "quick")``.
    presets: tuple[str, ...] = ()
    #: The dataset options ``samples`` takes (e.g. ``--data-root``), see TaskOption.
    options: ClassVar[tuple[TaskOption, ...]] = ()
    #: The methods every task implements (abstract below); checked at registration.
    REQUIRED: ClassVar[tuple[str, ...]] = (
        "classes",
        "samples",
        "build_classifier",
        "train",
        "eval_batch",
    )

    @property
    @abstractmethod
    def classes(self) -> tuple[str, ...]:
        """Class names in the task's canonical order (index = label)."""

    @abstractmethod
    def samples(self, split: str, **dataset_options: Any) -> list[Sample]:
        """The samples of ``split`` (``"train"`` or ``"test"``), validated, for the
        values of :attr:`options` given as keywords."""

    @abstractmethod
    def build_classifier(
        self, domain: str, latent_spec: LatentSpec | None = None, *, preset: str | None = None
    ) -> Any:
        """A fresh torch.nn.Module classifier for ``domain``, shaped by ``latent_spec``
        (the codec's compressed domain; None for ``"pixel"``) and sized for the training
        ``preset`` (its name; None: the task's default size). A task that has one size
        ignores ``preset``."""

    def classifier_for(
        self, domain: str, latent_spec: LatentSpec | None, preset: str | None
    ) -> Any:
        """:meth:`build_classifier` with every argument of the contract: what the
        framework calls. A task written before presets (``build_classifier(domain,
        latent_spec)``) still gets its model, with a DeprecationWarning."""
        return call_task(
            self, "build_classifier", (domain, latent_spec), {}, legacy={"preset": preset}
        )

    def dataset_notes(self, **dataset_options: Any) -> list[str]:
        """Lines saying how the dataset was read where that changes what a reader sees
        (e.g. images turned by their EXIF orientation), once its samples were listed:
        ``run`` logs each once and records them in ``run.json``'s ``notes``. Default:
        none."""
        return []

    def remote_files(self, **options: Any) -> list[RemoteFile]:
        """Files from outside that a study with these options needs (a dataset archive,
        pretrained classifier weights): what ``jpegai-eval fetch`` downloads ahead of
        time. ``options``: the task's declared :attr:`options` (resolved), ``preset``
        and ``imagenet_weights`` (a task ignores what it does not use). Default: none."""
        return []

    def classifier_init(self, preset: str, imagenet_weights: str | None) -> tuple[str | None, str]:
        """What the classifiers start from under ``preset`` given ``--imagenet-weights``
        (None: the preset's default): ``(checkpoint for init_classifier or None, a
        one-line description)``. Called before the run touches its output folder, so a
        missing or damaged file is one UserError before any work."""
        if imagenet_weights is None or imagenet_weights.strip().lower() == "none":
            return None, "from scratch (no ImageNet weights)"
        return imagenet_weights, f"ImageNet weights from {imagenet_weights}"

    @abstractmethod
    def train(
        self,
        model: Any,
        items: list[tuple[Path, int]],
        *,
        preset: str,
        domain: str,
        out_dir: Path,
        device: str,
        workers: int | None,
        seed: int,
        ddp: bool = False,
        deterministic: bool | None = None,
        latent_spec: LatentSpec | None = None,
    ) -> Any:
        """Train ``model`` in place on (source, label) items -- a source is an image
        file (pixel domain) or a ``.npz`` holding the arrays ``latent_spec.names``
        (latent domain) -- checkpointing into ``out_dir`` and resuming from it.

        The framework gives every argument, always by keyword: ``preset`` (the training
        preset's name), ``domain``, ``out_dir``, ``device`` (``"auto"``, ``"cpu"``,
        ``"cuda"``...), ``workers`` (data-loading processes; None: the task's default),
        ``seed``, ``ddp`` (True only under ``run --ddp`` when :meth:`data_parallel`
        agreed: every rank calls ``train`` together and trains the one model) and
        ``deterministic`` (``--deterministic`` / ``--no-deterministic``; None: the
        device's default); in the latent domain ``latent_spec`` (the codec's compressed
        domain: its tensors, their channels and strides). Return a record of the
        training; its ``history``, ``training_mode`` and ``data_parallel`` attributes,
        when it has them, go into the classifier's ``meta.json``."""

    def train_for(
        self,
        model: Any,
        items: list[tuple[Path, int]],
        *,
        preset: str,
        domain: str,
        out_dir: Path,
        device: str,
        workers: int | None,
        seed: int,
        ddp: bool,
        deterministic: bool | None,
        latent_spec: LatentSpec | None = None,
    ) -> Any:
        """:meth:`train` with every argument of the contract: what the framework calls.
        A task whose ``train`` predates ``ddp`` and ``deterministic`` still trains,
        with a DeprecationWarning, as long as they are at their defaults (False, None);
        otherwise the error says which argument it lacks. ``latent_spec`` is given in
        the latent domain only; a task that predates it trains as it did (y_hat and
        sigma_hat), with a DeprecationWarning."""
        given: dict[str, object] = dict(preset=preset, domain=domain, out_dir=out_dir)
        given.update(device=device, workers=workers, seed=seed)
        legacy: dict[str, object] = {}
        for name, value, default in (("ddp", ddp, False), ("deterministic", deterministic, None)):
            # At its default an argument an older task lacks changes nothing: droppable.
            (legacy if value == default else given)[name] = value
        if latent_spec is not None:
            legacy["latent_spec"] = latent_spec
        return call_task(self, "train", (model, items), given, legacy=legacy)

    @abstractmethod
    def eval_batch(
        self, sources: list[Path], domain: str, preset: str, latent_spec: LatentSpec | None = None
    ) -> Any:
        """The deterministic evaluation inputs for ``sources`` as one float32
        (N, C, H, W) numpy array, exactly what the classifier (and its ONNX export)
        takes; in the latent domain, of ``latent_spec``'s tensors."""

    def eval_batch_for(
        self, sources: list[Path], domain: str, preset: str, latent_spec: LatentSpec | None
    ) -> Any:
        """:meth:`eval_batch` with every argument of the contract: what the framework
        calls. A task whose ``eval_batch`` predates ``latent_spec`` is called without
        it (y_hat and sigma_hat, as before), with a DeprecationWarning."""
        legacy = {"latent_spec": latent_spec} if latent_spec is not None else {}
        return call_task(self, "eval_batch", (sources, domain, preset), {}, legacy=legacy)

    # -- optional; the defaults below are sensible ------------------------------------
    def init_classifier(
        self, model: Any, imagenet_weights: str | None = None, *, domain: str
    ) -> Any:
        """Initialise ``model``, a classifier of ``domain`` (``"pixel"`` or
        ``"latent"``), e.g. from ImageNet weights; return a record of what was done,
        with a ``summary()`` method or a ``str()`` for the results."""
        return "from scratch"

    def init_for(self, model: Any, imagenet_weights: str | None, domain: str) -> Any:
        """:meth:`init_classifier` with every argument of the contract: what the
        framework calls. A task written before ``domain`` was given still initialises,
        with a DeprecationWarning."""
        return call_task(
            self, "init_classifier", (model, imagenet_weights), {}, legacy={"domain": domain}
        )

    def classifier_info(
        self, model: Any, domain: str, latent_spec: LatentSpec | None, preset: str
    ) -> Mapping[str, object]:
        """``{"params", "macs", ...}`` of ``model`` at its input size for ``preset``
        (JSON values: the classifier's ``meta.json`` records them)."""
        return {"params": sum(p.numel() for p in model.parameters()), "macs": None}

    def data_parallel(self, preset: str, world_size: int) -> Mapping[str, object]:
        """For ``run --ddp`` under ``torchrun``: whether and how :meth:`train` trains one
        classifier with every one of ``world_size`` ranks together (it is then called on
        every rank with ``ddp=True``). Return the rule as a record for ``run.json`` (e.g.
        ``{"global_batch": 32, "per_rank_batch": 8, "lr": 0.01}``); raise a UsageError
        when ``preset`` cannot be split over ``world_size`` ranks. Called before the
        output folder is touched. Default: the task cannot, a UsageError."""
        raise UsageError(
            f"Task {self.id!r} cannot train one classifier over several processes "
            "(its train() has no data-parallel mode), so --ddp does not apply to it. Leave "
            "out --ddp: the ranks then take whole classifiers."
        )

    def resolve_options(self, given: Mapping[str, object] | None = None) -> dict[str, Scalar]:
        """Every declared option's value: ``given`` converted and checked, the rest
        their defaults. An unknown name is a UsageError listing the task's options."""
        given = dict(given or {})
        known = {o.name: o for o in self.options}
        unknown = [name for name in given if name not in known]
        if unknown:
            listing = ", ".join(o.flag for o in self.options) or "none"
            flags = ", ".join("--" + n.replace("_", "-") for n in unknown)
            raise UsageError(
                f"Task {self.id!r} has no option {flags}; its options are {listing} "
                f"(see `jpegai-eval run --task {self.id} --help`)."
            )
        return {
            name: option.convert(given.get(name, option.default), self.id)
            for name, option in known.items()
        }


def call_task(
    task: Task,
    method: str,
    args: tuple[Any, ...],
    given: Mapping[str, object],
    *,
    legacy: Mapping[str, object],
) -> Any:
    """Call ``task.method(*args, **given, **legacy)``: the whole contract. ``legacy``
    holds the keywords a task written to an older contract may lack; such a task (its
    method refuses them when called, before its body runs) is called again without
    them, with a DeprecationWarning. Any other argument it refuses is a UsageError
    naming the task, the method and what the contract gives it."""
    call = getattr(task, method)
    try:
        return call(*args, **given, **legacy)
    except TypeError as exc:
        if not _refused_arguments(exc):
            raise
        refused = exc
    if legacy:
        try:
            result = call(*args, **given)
        except TypeError as exc:
            if not _refused_arguments(exc):
                raise
            refused = exc
        else:
            import warnings

            warnings.warn(
                f"Task {task.id!r}: {type(task).__name__}.{method}() does not take "
                f"{', '.join(legacy)}, which the Task contract gives it, so it was called "
                "without; add the keyword(s) (a task may ignore what it does not use): "
                "this fallback will go.",
                DeprecationWarning,
                stacklevel=3,
            )
            return result
    passed = [f"{len(args)} positional", *given, *legacy]
    raise UsageError(
        f"Task {task.id!r}: {type(task).__name__}.{method}() refuses the arguments the Task "
        f"contract gives it ({refused}). It is called with {', '.join(passed)}; see "
        "jpegai_eval.framework.api.types.Task for what each means, and accept every one."
    ) from None


def _refused_arguments(exc: TypeError) -> bool:
    """Whether ``exc`` came from calling a function with arguments it does not take
    (raised before its body ran: the traceback stops at the caller), not from its body."""
    return exc.__traceback__ is not None and exc.__traceback__.tb_next is None


def missing_task_methods(task: Any) -> list[str]:
    """The names of :attr:`Task.REQUIRED` that ``task`` (an instance or a class) lacks:
    abstract, absent or not callable."""
    cls = task if isinstance(task, type) else type(task)
    abstract = set(getattr(cls, "__abstractmethods__", ()))
    missing = []
    for name in Task.REQUIRED:
        attr = getattr(cls, name, None)
        if name in abstract or attr is None:
            missing.append(name)
        elif not isinstance(attr, property) and not callable(attr):
            missing.append(name)
    return missing


# -------------------------------------------------------------------------- anchors


@dataclass(frozen=True)
class Anchor:
    """One way of running the task against a codec (the paper's anchors).

    ``train_on`` and ``eval_on`` name the data: ``"original"`` images, ``"decoded"``
    images of the codec x quality, or ``"latents"`` (y_hat and sigma_hat). An anchor
    with ``per_quality=False`` (anchor 3) runs once per task, not per codec x quality.
    """

    id: str
    title: str
    domain: Domain
    train_on: ImageSource
    eval_on: ImageSource
    per_quality: bool = True
    #: The anchor whose trained classifier this one reuses (anchor 1 reuses anchor 3's).
    reuses_classifier_of: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"Anchor {self.id!r}: domain must be one of {DOMAINS}")
        for name, value in (("train_on", self.train_on), ("eval_on", self.eval_on)):
            if value not in IMAGE_SOURCES:
                raise ValueError(f"Anchor {self.id!r}: {name} must be original, decoded or latents")

    @property
    def needs_compressed_domain(self) -> bool:
        return "latents" in (self.train_on, self.eval_on)

    @property
    def backend(self) -> str:  # anchors have no backend; keeps listings uniform
        return ""


# -------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class ReportOptions:
    """What ``jpegai-eval report`` asks of the writers beyond the run folder.

    ``bd_anchor``: the codec (id or ``id/backend``) BD-rates are taken against; None
    keeps the run's own (``--bd-anchor`` of the run, in ``run.json``; else jpeg, else
    the first codec)."""

    bd_anchor: str | None = None


class ReportWriter(ABC):
    """Writes one kind of report from a run folder's results files."""

    id: str = ""
    description: str = ""
    #: File names this writer produces, for listings.
    outputs: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def write(self, run_dir: Path, out_dir: Path) -> list[Path]:
        """Read results from ``run_dir`` and write reports into ``out_dir``; return paths."""

    def write_with(self, run_dir: Path, out_dir: Path, options: ReportOptions) -> list[Path]:
        """:meth:`write` under the ``report`` command's :class:`ReportOptions`. The
        framework calls this; a writer that uses an option overrides it, one that uses
        none need not (this default ignores them and calls :meth:`write`)."""
        return self.write(run_dir, out_dir)


@dataclass
class Registered:
    """A registry entry: the object and where it came from."""

    obj: Any
    plugin: str
    distribution: dict[str, str] = field(default_factory=dict)
