"""VVC intra as a plugin point: Fraunhofer's ``vvencapp`` / ``vvdecapp`` from ``PATH``.

No VVC encoder is installable from the package registries, so ``vvc`` (backend
``vvenc``) runs the command-line tools a user builds (https://github.com/fraunhoferhhi/vvenc,
https://github.com/fraunhoferhhi/vvdec) and is listed as unavailable, with that reason,
where they are not on ``PATH``. One image is one intra frame: RGB is converted to
Y'CbCr (BT.601 full range, as JFIF) with 4:2:0 chroma (VVenC's input format), padded
to a multiple of 8 by edge replication, coded at a QP (``qp`` 0..63, lower = more
bits; the ladder 1..8 is QP 47..17) with the ``medium`` preset and one thread, and
the decoded picture cropped back. The ``.jai`` payload is the raw VVC bitstream.

This path is exercised here only with stand-ins for the two tools (no VVC codec
exists on this machine); treat its first results on a real build as a check of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from jpegai_eval.framework.api.types import Codec, CodecModel, RateParameter, digest
from jpegai_eval.framework.errors import BitstreamError, UsageError, UserError

if TYPE_CHECKING:
    import numpy as np

    from jpegai_eval.framework.api.bitstream import Header

ENCODER, DECODER = "vvencapp", "vvdecapp"
LADDER_QP = (47, 42, 37, 34, 32, 27, 22, 17)
PRESET = "medium"
#: Every side is padded to a multiple of this (VVC's smallest coding block).
ALIGN = 8


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"{what} could not run ({exc}). Check the {command[0]} on PATH.") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise UserError(
            f"{what} failed (exit {done.returncode}): {' / '.join(tail) or 'no message'}. "
            f"Check that {command[0]} on PATH is a working VVenC/VVdeC build."
        )


class VvcCodec(Codec):
    """VVC intra through ``vvencapp`` and ``vvdecapp`` found on ``PATH``."""

    id = "vvc"
    backend = "vvenc"
    qualities = tuple(range(1, 9))
    has_compressed_domain = False
    parameter: RateParameter = RateParameter("qp", 0, 63, integer=True, increases_rate=False)
    #: VVC level 6.3's largest picture side (as HEVC's, sqrt(8 x 35,651,584)).
    max_side = 16888
    min_side = 1

    @property  # type: ignore[override]
    def description(self) -> str:
        return (
            f"VVC intra (VVenC {PRESET} preset via {ENCODER}, VVdeC via {DECODER}, found on "
            f"PATH; Y'CbCr 4:2:0), QP {LADDER_QP[0]}..{LADDER_QP[-1]}; pixel domain only"
        )

    @property  # type: ignore[override]
    def unavailable_reason(self) -> str | None:
        missing = [tool for tool in (ENCODER, DECODER) if shutil.which(tool) is None]
        if not missing:
            return None
        return (
            f"{' and '.join(missing)} not found on PATH. VVC has no package on PyPI: build "
            "VVenC (https://github.com/fraunhoferhhi/vvenc) and VVdeC "
            "(https://github.com/fraunhoferhhi/vvdec) and put their apps on PATH."
        )

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        self.check_quality(quality)
        return self._model(quality, LADDER_QP[quality - 1], weights, weights_dir)

    def load_parameter(
        self,
        value: float | None,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        qp = None if value is None else int(self.parameter.clamp(value))
        return self._model(0, qp, weights, weights_dir)

    def _model(
        self, quality: int, qp: int | None, weights: str | None, weights_dir: object
    ) -> VvcModel:
        self.check_available()
        if weights not in (None, "demo", "pretrained") or weights_dir is not None:
            raise UsageError(f"Codec {self.key} has no weights; drop --weights/--weights-dir.")
        return VvcModel(self, quality, qp)


class VvcModel(CodecModel):
    codec: VvcCodec

    def __init__(self, codec: VvcCodec, quality: int, qp: int | None) -> None:
        self.qp = qp
        settings = f"qp={qp};preset={PRESET};420;bt601-full" if qp is not None else ""
        super().__init__(codec, quality, digest(settings.encode()) if settings else b"")

    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        if self.qp is None:
            raise UserError(f"This {self.codec.key} model only decodes; load one at a QP.")
        height, width = int(image.shape[0]), int(image.shape[1])
        if max(height, width) > self.codec.max_side:
            raise UserError(
                f"The image is {width}x{height} pixels; codec {self.codec.key} holds at most "
                f"{self.codec.max_side} pixels per side. Crop or downscale it."
            )
        planes = to_yuv420(image)
        with tempfile.TemporaryDirectory(prefix="jpegai-vvc-") as tmp:
            src, out = Path(tmp) / "in.yuv", Path(tmp) / "out.266"
            src.write_bytes(b"".join(p.tobytes() for p in planes))
            h, w = planes[0].shape
            command = [ENCODER, "-i", str(src), "-s", f"{w}x{h}", "-c", "yuv420", "-r", "1"]
            command += ["-f", "1", "-q", str(self.qp), "--preset", PRESET, "-t", "1"]
            _run([*command, "-o", str(out)], f"{ENCODER} at QP {self.qp}")
            return out.read_bytes(), ()

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        import numpy as np

        h = -(-header.height // ALIGN) * ALIGN
        w = -(-header.width // ALIGN) * ALIGN
        with tempfile.TemporaryDirectory(prefix="jpegai-vvc-") as tmp:
            src, out = Path(tmp) / "in.266", Path(tmp) / "out.yuv"
            src.write_bytes(payload)
            try:
                _run([DECODER, "-b", str(src), "-o", str(out)], DECODER)
            except UserError as exc:
                raise BitstreamError(f"The vvc payload cannot be decoded: {exc.message}") from None
            raw = out.read_bytes() if out.is_file() else b""
        samples = h * w * 3 // 2
        if len(raw) == samples:
            data = np.frombuffer(raw, np.uint8).astype(np.float32)
        elif len(raw) == 2 * samples:  # 10-bit output, 16-bit little-endian samples
            data = np.frombuffer(raw, "<u2").astype(np.float32) / 4.0
        else:
            raise BitstreamError(
                f"{DECODER} wrote {len(raw)} bytes, not one {w}x{h} 4:2:0 picture: the payload "
                "does not match its header. Re-encode the image."
            )
        y = data[: h * w].reshape(h, w)
        cb = data[h * w : h * w + samples // 6].reshape(h // 2, w // 2)
        cr = data[h * w + samples // 6 :].reshape(h // 2, w // 2)
        return from_yuv420(y, cb, cr)[: header.height, : header.width]


def to_yuv420(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit Y', Cb, Cr planes (BT.601 full range), padded to :data:`ALIGN` by edge
    replication, chroma averaged over 2 x 2 blocks."""
    import numpy as np

    height, width = image.shape[:2]
    pad = ((0, -height % ALIGN), (0, -width % ALIGN), (0, 0))
    rgb = np.pad(image, pad, mode="edge").astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 + (b - y) / 1.772
    cr = 128 + (r - y) / 1.402

    def sub(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2).mean(axis=(1, 3))

    y8, cb8, cr8 = (np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, sub(cb), sub(cr)))
    return y8, cb8, cr8


def from_yuv420(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """The RGB image of 4:2:0 planes (chroma repeated over 2 x 2 blocks)."""
    import numpy as np

    cb = np.repeat(np.repeat(cb, 2, axis=0), 2, axis=1) - 128
    cr = np.repeat(np.repeat(cr, 2, axis=0), 2, axis=1) - 128
    r = y + 1.402 * cr
    b = y + 1.772 * cb
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return np.ascontiguousarray(np.clip(np.rint(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8))


VVC = VvcCodec()
