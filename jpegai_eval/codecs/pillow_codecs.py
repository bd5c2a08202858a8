"""Conventional codecs as pixel-domain baselines, through Pillow.

``jpeg``, ``webp`` and ``jpeg2000`` (the latter only where Pillow was built with
OpenJPEG), each with a ladder of eight qualities from low to high rate. The payload of
the ``.jai`` file is the codec's own file (JFIF, WebP, J2K codestream), so the rate
counts the container header too, like every other codec here. They have no compressed
domain: :meth:`CodecModel.latents` refuses, and the evaluator skips the compressed
anchor for them.

A codec with a continuous rate parameter (:class:`~jpegai_eval.framework.api.types.RateParameter`,
e.g. libjpeg's quality) also encodes at any value of it (:meth:`PillowCodec.load_parameter`),
which ``run --target-bpp`` searches per image; such files carry quality 0 in their
header. Every model's weights id is a digest of its exact encoder settings, so a cache
entry made with other settings is never reused. JPEG AI's other anchors (HEVC intra,
AVIF, JPEG XL) are in :mod:`jpegai_eval.codecs.anchor_codecs`.
"""

from __future__ import annotations

import copy
import io
import json
import os
import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from jpegai_eval.framework.api.types import Codec, CodecModel, RateParameter, digest
from jpegai_eval.framework.errors import BitstreamError, UserError

if TYPE_CHECKING:
    import numpy as np

    from jpegai_eval.framework.api.bitstream import Header

QUALITIES = tuple(range(1, 9))

#: One keyword of Pillow's ``Image.save`` for a format: a number, flag or name, JPEG
#: 2000's quality layers (``[ratio]``), or a plugin's nested encoder settings (HEIF's
#: ``enc_params``).
SaveOption = int | float | str | list[float] | dict[str, str]
#: The keywords of one encode, as passed to ``Image.save``.
SaveOptions = dict[str, SaveOption]


class PillowCodec(Codec):
    """One Pillow format with a quality ladder: ``ladder[q - 1]`` are its save options.

    Optional, for JPEG AI's rate-point study: a continuous :attr:`parameter` with
    ``parameter_options(value)`` giving the save options at a value; ``base`` options
    common to every encode; ``requires``, a module whose import registers the format
    with Pillow (a Pillow plugin from PyPI); ``libraries``, a function giving the
    versions of the libraries that code the format; ``max_side`` / ``min_side``, the
    format's limits on each side of an image, in pixels.
    """

    backend = "pillow"
    qualities = QUALITIES
    has_compressed_domain = False
    #: The format's largest and smallest side, in pixels (None: no limit of its own).
    max_side: int | None = None
    min_side: int = 1

    def __init__(
        self,
        codec_id: str,
        pillow_format: str,
        ladder: tuple[Mapping[str, SaveOption], ...],
        description: str,
        feature: str | None = None,
        *,
        backend: str = "pillow",
        parameter: RateParameter | None = None,
        parameter_options: Callable[[float], SaveOptions] | None = None,
        base: Mapping[str, SaveOption] | None = None,
        requires: str | None = None,
        libraries: Callable[[], dict[str, str]] | None = None,
        max_side: int | None = None,
        min_side: int = 1,
    ) -> None:
        assert len(ladder) == len(QUALITIES)
        self.id = codec_id
        self.backend = backend
        self.pillow_format = pillow_format
        self.base = dict(base or {})
        self.ladder = tuple({**self.base, **step} for step in ladder)
        self.title = description
        self.feature = feature
        self.parameter = parameter
        self._parameter_options = parameter_options
        self.requires = requires
        self._libraries = libraries
        self.max_side = max_side
        self.min_side = min_side

    @property  # type: ignore[override]
    def description(self) -> str:  # computed on use: library versions need imports
        """The title, and where the codec can run, its library versions and the exact
        settings of its ladder and parameter (``plugins``, ``codec info``, ``run.json``)."""
        if self.unavailable_reason:
            return self.title
        versions = ", ".join(f"{k} {v}" for k, v in self.library_versions().items())
        text = f"{self.title} [{versions}]"
        if self.parameter is not None:
            text += f"; rate parameter {self.parameter.describe()}"
        if self.base:
            text += f"; settings {json.dumps(self.base, sort_keys=True)}"
        return text

    @property  # type: ignore[override]
    def unavailable_reason(self) -> str | None:  # computed on use: no Pillow import early
        if self.requires is not None:
            import importlib.util

            if importlib.util.find_spec(self.requires) is None:
                return (
                    f"the Python package {self.requires!r} (a Pillow plugin from PyPI) is not "
                    f"installed. Install jpegai-eval's dependencies again (`make venv`), or "
                    f"`pip install {self.requires.replace('_', '-')}`."
                )
        if self.feature is None:
            return None
        from PIL import features

        if features.check(self.feature):
            return None
        return (
            f"this Pillow ({_pillow_version()}) was built without {self.feature} support. "
            "Install a Pillow wheel from PyPI, which includes it."
        )

    def register_format(self) -> None:
        """Make Pillow know the format (importing the Pillow plugin that adds it)."""
        if self.requires == "pillow_heif":
            import pillow_heif

            pillow_heif.register_heif_opener(thumbnails=False)
        elif self.requires is not None:
            import importlib

            importlib.import_module(self.requires)

    def library_versions(self) -> dict[str, str]:
        """The versions of Pillow and of the libraries that code this format."""
        versions = {"Pillow": _pillow_version()}
        if self._libraries is not None:
            versions.update(self._libraries())
        return versions

    def save_options(self, quality: int) -> SaveOptions:
        return dict(self.ladder[self.check_quality(quality) - 1])

    def options_at(self, value: float) -> SaveOptions:
        """The save options at ``value`` of :attr:`parameter` (clamped to its range)."""
        if self.parameter is None or self._parameter_options is None:
            raise UserError(f"Codec {self.key} has no continuous rate parameter.")
        value = self.parameter.clamp(value)
        return {
            **self.base,
            **self._parameter_options(int(value) if self.parameter.integer else value),
        }

    def load_parameter(
        self,
        value: float | None,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        if self.parameter is None:
            return super().load_parameter(value, weights, device, weights_dir)
        self._check_load(weights, weights_dir)
        if value is None:  # decodes any rate-controlled file of this codec
            return PillowModel(self, 0, options={})
        options = self.options_at(value)
        model = PillowModel(self, 0, options=options)
        model.parameter_value = self.parameter.clamp(value)
        return model

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        self.check_quality(quality)
        self._check_load(weights, weights_dir)
        return PillowModel(self, quality)

    def _check_load(self, weights: str | None, weights_dir: str | os.PathLike[str] | None) -> None:
        from jpegai_eval.framework.errors import UsageError

        self.check_available()
        if weights not in (None, "demo", "pretrained"):
            raise UsageError(f"Codec {self.key} has no weights; drop --weights {weights!r}.")
        if weights_dir is not None:
            raise UsageError(
                f"Codec {self.key} does not take --weights-dir: it has no weights to look "
                f"up. Drop --weights-dir {str(weights_dir)!r}, or run this codec separately."
            )


class PillowModel(CodecModel):
    """A Pillow codec at one ladder quality (or, quality 0, at one value of its rate
    parameter); its weights id is a digest of its exact save options."""

    codec: PillowCodec
    #: The value of the codec's rate parameter this model encodes at (quality 0).
    parameter_value: float | None = None

    def __init__(
        self, codec: PillowCodec, quality: int, options: Mapping[str, SaveOption] | None = None
    ) -> None:
        self.options = codec.save_options(quality) if options is None else dict(options)
        settings = json.dumps(self.options, sort_keys=True).encode()
        super().__init__(codec, quality, digest(settings) if self.options else b"")

    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        from PIL import Image

        if not self.options:
            raise UserError(
                f"This {self.codec.key} model only decodes rate-controlled files; load one "
                "at a parameter value (Codec.load_parameter(value)) to encode."
            )
        self.codec.register_format()
        buffer = io.BytesIO()
        # a deep copy: a plugin may change what it is given (pillow-heif's enc_params)
        options = copy.deepcopy(self.options)
        Image.fromarray(image, "RGB").save(buffer, format=self.codec.pillow_format, **options)
        return buffer.getvalue(), ()

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        import numpy as np
        from PIL import Image

        self.codec.register_format()
        try:
            with Image.open(io.BytesIO(payload), formats=[self.codec.pillow_format]) as img:
                # The payload's own size is checked against the (capped) header before
                # Pillow decodes, so a payload cannot claim a larger image than the header.
                if img.size != (header.width, header.height):
                    raise BitstreamError(
                        f"The {self.codec.id} payload holds a {img.width}x{img.height} image "
                        f"but the header says {header.width}x{header.height}. Re-encode the "
                        "image."
                    )
                image = np.array(img.convert("RGB"), dtype=np.uint8)
        except (
            OSError,
            ValueError,
            SyntaxError,
            EOFError,
            struct.error,
            Image.DecompressionBombError,
            RuntimeError,  # pillow-jxl-plugin's decoder on a damaged codestream
        ) as exc:
            raise BitstreamError(
                f"The {self.codec.id} payload of this .jai file cannot be decoded "
                f"({type(exc).__name__}: {exc}). Re-encode the image."
            ) from None
        if image.shape[:2] != (header.height, header.width):
            raise BitstreamError(
                f"The {self.codec.id} payload decodes to {image.shape[1]}x{image.shape[0]} "
                f"but the header says {header.width}x{header.height}. Re-encode the image."
            )
        return np.ascontiguousarray(image)


def _pillow_version() -> str:
    import PIL

    return str(PIL.__version__)


def _jpeg_libraries() -> dict[str, str]:
    from PIL import features

    turbo = features.version("libjpeg_turbo")
    return {"libjpeg-turbo": turbo} if turbo else {"libjpeg": str(features.version("jpg"))}


def _webp_libraries() -> dict[str, str]:
    from PIL import features

    return {"libwebp": str(features.version("webp"))}


def _openjpeg_libraries() -> dict[str, str]:
    from PIL import features

    return {"OpenJPEG": str(features.version("jpg_2000"))}


# Module-level functions, not closures: codecs travel to encode workers by pickle.
def whole_quality(value: float) -> SaveOptions:
    """``{"quality": value}`` for encoders whose quality is a whole number."""
    return {"quality": int(value)}


def float_quality(value: float) -> SaveOptions:
    """``{"quality": value}`` for encoders whose quality is continuous."""
    return {"quality": float(value)}


def ratio_layer(value: float) -> SaveOptions:
    """OpenJPEG's one quality layer at compression ratio ``value``."""
    return {"quality_layers": [float(value)]}


#: libjpeg's quality, 1..100 (whole numbers).
JPEG_QUALITY = RateParameter("quality", 1, 100, integer=True)
#: The ladder of libjpeg qualities behind ``--qualities 1..8``.
JPEG_LADDER = (5, 10, 20, 30, 45, 60, 75, 90)

JPEG = PillowCodec(
    "jpeg",
    "JPEG",
    tuple({"quality": q} for q in JPEG_LADDER),
    "JPEG (libjpeg via Pillow, 4:2:0, optimised Huffman tables), quality 5..90; pixel domain only",
    # Optimised Huffman tables (cjpeg -optimize): the standard tables alone cost about
    # 0.2 bpp on a 128 x 128 image, which kept JPEG above 0.45 bpp at any quality.
    base={"subsampling": 2, "optimize": True},
    parameter=JPEG_QUALITY,
    parameter_options=whole_quality,
    libraries=_jpeg_libraries,
    max_side=65500,  # libjpeg's JPEG_MAX_DIMENSION
)
JPEG_444 = PillowCodec(
    "jpeg-444",
    "JPEG",
    tuple({"quality": q} for q in JPEG_LADDER),
    "JPEG (libjpeg via Pillow, 4:4:4: no chroma subsampling, optimised Huffman tables), "
    "quality 5..90; pixel domain only",
    base={"subsampling": 0, "optimize": True},
    parameter=JPEG_QUALITY,
    parameter_options=whole_quality,
    libraries=_jpeg_libraries,
    max_side=65500,
)
WEBP = PillowCodec(
    "webp",
    "WEBP",
    tuple({"quality": q} for q in (5, 10, 20, 30, 45, 60, 75, 90)),
    "WebP lossy (libwebp via Pillow), quality 5..90; pixel domain only",
    feature="webp",
    parameter=RateParameter("quality", 0, 100, integer=True),
    base={"method": 4},
    parameter_options=whole_quality,
    libraries=_webp_libraries,
    max_side=16383,  # WebP's 14-bit sizes
)
JPEG2000 = PillowCodec(
    "jpeg2000",
    "JPEG2000",
    tuple({"quality_layers": [r]} for r in (160, 100, 64, 40, 25, 16, 10, 6)),
    "JPEG 2000 (OpenJPEG via Pillow, 9/7 irreversible wavelet, one quality layer), "
    "compression ratio 160..6; pixel domain only",
    feature="jpg_2000",
    base={"quality_mode": "rates", "irreversible": True, "no_jp2": True},
    # The compression ratio against 24-bit RGB: a larger ratio gives a smaller file.
    parameter=RateParameter("compression_ratio", 2, 500, increases_rate=False),
    parameter_options=ratio_layer,
    libraries=_openjpeg_libraries,
)

PILLOW_CODECS = (JPEG, WEBP, JPEG2000)
#: The Pillow codecs among JPEG AI's anchors beside the three above.
PILLOW_ANCHORS = (JPEG_444,)
