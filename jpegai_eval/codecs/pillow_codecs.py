"""Conventional codecs as pixel-domain baselines, through Pillow.

``jpeg``, ``webp`` and ``jpeg2000`` (the latter only where Pillow was built with
OpenJPEG), each with a ladder of eight qualities from low to high rate. The payload of
the ``.jai`` file is the codec's own file (JFIF, WebP, J2K codestream), so the rate
counts the container header too, like every other codec here. They have no compressed
domain: :meth:`CodecModel.latents` refuses, and the evaluator skips the compressed
anchor for them.
"""

from __future__ import annotations

import io
import os
import struct
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.errors import BitstreamError
from jpegai_eval.framework.types import Codec, CodecModel

if TYPE_CHECKING:
    import numpy as np

    from jpegai_eval.framework.bitstream import Header

QUALITIES = tuple(range(1, 9))


class PillowCodec(Codec):
    """One Pillow format with a quality ladder: ``ladder[q - 1]`` are its save options."""

    backend = "pillow"
    qualities = QUALITIES
    has_compressed_domain = False

    def __init__(
        self,
        codec_id: str,
        pillow_format: str,
        ladder: tuple[dict[str, Any], ...],
        description: str,
        feature: str | None = None,
        max_side: int | None = None,
    ) -> None:
        assert len(ladder) == len(QUALITIES)
        self.id = codec_id
        self.pillow_format = pillow_format
        self.ladder = ladder
        self.description = description
        self.feature = feature
        self.max_side = max_side

    @property  # type: ignore[override]
    def unavailable_reason(self) -> str | None:  # computed on use: no Pillow import early
        if self.feature is None:
            return None
        from PIL import features

        if features.check(self.feature):
            return None
        return (
            f"this Pillow ({_pillow_version()}) was built without {self.feature} support. "
            "Install a Pillow wheel from PyPI, which includes it."
        )

    def save_options(self, quality: int) -> dict[str, Any]:
        return dict(self.ladder[self.check_quality(quality) - 1])

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        from jpegai_eval.framework.errors import UsageError

        self.check_quality(quality)
        self.check_available()
        if weights not in (None, "demo", "pretrained"):
            raise UsageError(f"Codec {self.key} has no weights; drop --weights {weights!r}.")
        if weights_dir is not None:
            raise UsageError(
                f"Codec {self.key} does not take --weights-dir: it has no weights to look "
                f"up. Drop --weights-dir {str(weights_dir)!r}, or run this codec separately."
            )
        return PillowModel(self, quality)


class PillowModel(CodecModel):
    codec: PillowCodec

    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(
            buffer, format=self.codec.pillow_format, **self.codec.save_options(self.quality)
        )
        return buffer.getvalue(), ()

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        import numpy as np
        from PIL import Image

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


JPEG = PillowCodec(
    "jpeg",
    "JPEG",
    tuple({"quality": q} for q in (5, 10, 20, 30, 45, 60, 75, 90)),
    "JPEG (libjpeg via Pillow, 4:2:0), quality 5..90; pixel domain only",
    max_side=65500,  # libjpeg's JPEG_MAX_DIMENSION
)
WEBP = PillowCodec(
    "webp",
    "WEBP",
    tuple({"quality": q, "method": 4} for q in (5, 10, 20, 30, 45, 60, 75, 90)),
    "WebP lossy (libwebp via Pillow), quality 5..90; pixel domain only",
    feature="webp",
    max_side=16383,  # WEBP_MAX_DIMENSION
)
JPEG2000 = PillowCodec(
    "jpeg2000",
    "JPEG2000",
    tuple(
        {"quality_mode": "rates", "quality_layers": [r], "irreversible": True, "no_jp2": True}
        for r in (160, 100, 64, 40, 25, 16, 10, 6)
    ),
    "JPEG 2000 (OpenJPEG via Pillow), compression ratio 160..6; pixel domain only",
    feature="jpg_2000",
)

PILLOW_CODECS = (JPEG, WEBP, JPEG2000)
