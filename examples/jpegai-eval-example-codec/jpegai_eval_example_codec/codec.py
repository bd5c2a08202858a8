"""``downsample-png``: shrink the image, store it losslessly as PNG, upsample on decode.

A pixel-domain codec with a real rate ladder and no compressed domain: quality 1
keeps 1/8 of each side, quality 4 keeps the full image (lossless).
"""

from __future__ import annotations

import io

import numpy as np

from jpegai_eval import BitstreamError, Codec, CodecModel, Header

#: quality -> fraction of each side that is kept
SCALES = {1: 1 / 8, 2: 1 / 4, 3: 1 / 2, 4: 1.0}


class DownsamplePngModel(CodecModel):
    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        from PIL import Image

        height, width = image.shape[:2]
        scale = SCALES[self.quality]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = Image.fromarray(image).resize(size, Image.Resampling.BOX)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), ()

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        from PIL import Image

        try:
            small = Image.open(io.BytesIO(payload)).convert("RGB")
        except OSError as exc:
            raise BitstreamError(f"The PNG payload cannot be read ({exc}).") from None
        full = small.resize((header.width, header.height), Image.Resampling.BICUBIC)
        return np.asarray(full, dtype=np.uint8)


class DownsamplePngCodec(Codec):
    id = "downsample-png"
    backend = "pillow"
    qualities = tuple(SCALES)
    description = "Example plugin: down-sample by 8/4/2/1, PNG, bicubic up-sample."

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | None = None,
    ) -> CodecModel:
        # No weights to load or look up: ``weights`` and ``weights_dir`` are ignored.
        return DownsamplePngModel(self, self.check_quality(quality))
