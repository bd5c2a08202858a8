"""Quality metrics on 8-bit RGB and per-image codec measurements.

PSNR, SSIM and MS-SSIM compare the original and the decoded image after both are
rounded to 8-bit RGB (what a user would see in a PNG), with ``data_range = 255``,
using pytorch-msssim (a CompressAI dependency) for the structural metrics, as
CompressAI's own ``eval_model`` does. Keys follow CompressAI's flat per-image results.

MS-SSIM's five scales need the smaller image side to exceed ``(win_size - 1) * 16``;
for images of 160 px or less the Gaussian window shrinks to the largest odd size that
fits (11 is the default), and the window used is reported as ``ms_ssim_win``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from jpegai_eval.framework.api.metric_types import Metric
    from jpegai_eval.framework.api.types import CodecModel

DEFAULT_WIN = 11
MSSSIM_LEVELS = 5


def psnr(original: NDArray[Any], decoded: NDArray[Any]) -> float:
    """Peak signal-to-noise ratio in dB over all RGB values (inf when identical)."""
    import numpy as np

    _check_pair(original, decoded)
    mse = np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def msssim_window(height: int, width: int) -> int:
    """The Gaussian window MS-SSIM uses for an image of this size (odd, at most 11)."""
    side = min(height, width)
    win = DEFAULT_WIN
    while win > 1 and side <= (win - 1) * 2 ** (MSSSIM_LEVELS - 1):
        win -= 2
    return win


def ssim(original: NDArray[Any], decoded: NDArray[Any]) -> float:
    """SSIM (11x11 Gaussian window, clipped to the image size) on 8-bit RGB."""
    from pytorch_msssim import ssim as _ssim

    a, b = _pair_tensors(original, decoded)
    win = min(DEFAULT_WIN, _odd_at_most(min(original.shape[:2])))
    return float(_ssim(a, b, data_range=255.0, win_size=win))


def ms_ssim(original: NDArray[Any], decoded: NDArray[Any]) -> float:
    """MS-SSIM (five scales) on 8-bit RGB; see the module note for small images."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    a, b = _pair_tensors(original, decoded)
    win = msssim_window(*original.shape[:2])
    if win < 3:
        return float("nan")
    return float(_ms_ssim(a, b, data_range=255.0, win_size=win))


def quality_metrics(original: NDArray[Any], decoded: NDArray[Any]) -> dict[str, float]:
    """``{"psnr", "ssim", "ms_ssim", "ms_ssim_win"}`` for one decoded image.

    When SSIM and MS-SSIM use the same window (images over 160 px), SSIM is MS-SSIM's
    first scale: both come from one pass (:func:`ssim_and_ms_ssim`), with the values
    :func:`ssim` and :func:`ms_ssim` give."""
    s, ms = ssim_and_ms_ssim(original, decoded)
    return {
        "psnr": psnr(original, decoded),
        "ssim": s,
        "ms_ssim": ms,
        "ms_ssim_win": float(msssim_window(*original.shape[:2])),
    }


def ssim_and_ms_ssim(original: NDArray[Any], decoded: NDArray[Any]) -> tuple[float, float]:
    """(SSIM, MS-SSIM) as :func:`ssim` and :func:`ms_ssim` compute them, sharing the
    full-resolution scale when the windows agree: pytorch-msssim's ``ms_ssim`` loop,
    with the first scale's SSIM kept (the same ``_ssim`` call ``ssim`` makes)."""
    import torch
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    a, b = _pair_tensors(original, decoded)
    ssim_win = min(DEFAULT_WIN, _odd_at_most(min(original.shape[:2])))
    ms_win = msssim_window(*original.shape[:2])
    if ms_win != ssim_win:
        return ssim(original, decoded), ms_ssim(original, decoded)
    weights = a.new_tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    win = _fspecial_gauss_1d(ms_win, 1.5).repeat([a.shape[1], 1, 1, 1])
    mcs = []
    first = None
    with torch.no_grad():
        for level in range(MSSSIM_LEVELS):
            per_channel, cs = _ssim(a, b, win=win, data_range=255.0, size_average=False)
            if first is None:
                first = float(per_channel.mean())
            if level < MSSSIM_LEVELS - 1:
                mcs.append(torch.relu(cs))
                padding = [s % 2 for s in a.shape[2:]]
                a = F.avg_pool2d(a, kernel_size=2, padding=padding)
                b = F.avg_pool2d(b, kernel_size=2, padding=padding)
        stacked = torch.stack([*mcs, torch.relu(per_channel)], dim=0)
        value = torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean()
    assert first is not None
    return first, float(value)


@dataclass
class Measurement:
    """One image through one codec model: rate, fidelity and times (seconds)."""

    bytes: int
    bpp: float
    psnr: float
    ssim: float
    ms_ssim: float
    encode_time: float
    decode_time: float
    latents_time: float | None = None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RoundTrip:
    """One image through one codec model: the file, the reconstruction, the latents
    (None without a compressed domain) and the time of each step (seconds)."""

    data: bytes
    decoded: NDArray[Any]
    latents: dict[str, NDArray[Any]] | None
    encode_time: float
    decode_time: float
    latents_time: float | None


def round_trip(model: CodecModel, image: NDArray[Any]) -> RoundTrip:
    """Encode ``image`` and decode the bitstream once through the codec's staged decode
    (:meth:`CodecModel.decode_stages`): the reconstruction and, for a codec with a
    compressed domain, the latents from one pass (the entropy decoding runs once). The
    decode and latents times are those of the stages each output needs, measured
    stage by stage inside that pass."""
    t0 = time.perf_counter()
    data = model.encode(image)
    return decode_trip(model, data, time.perf_counter() - t0)


def decode_trip(model: CodecModel, data: bytes, encode_time: float) -> RoundTrip:
    """The second half of :func:`round_trip`, for a bitstream already encoded (e.g. in
    a batch, :meth:`encode_batch`) in ``encode_time`` seconds: one staged decode."""
    out = model.decode_stages(data, image=True, latents=model.codec.has_compressed_domain)
    decode_time = out.decode_time
    assert out.image is not None and decode_time is not None
    return RoundTrip(data, out.image, out.latents, encode_time, decode_time, out.latents_time)


def measure(model: CodecModel, image: NDArray[Any]) -> tuple[Measurement, bytes, NDArray[Any]]:
    """Encode, decode (and, with a compressed domain, extract latents of) ``image``;
    return the measurement, the bitstream and the decoded image."""
    from jpegai_eval.framework.api.bitstream import bits_per_pixel

    r = round_trip(model, image)
    q = quality_metrics(image, r.decoded)
    m = Measurement(
        bytes=len(r.data),
        bpp=bits_per_pixel(r.data, image.shape[0], image.shape[1]),
        psnr=q["psnr"],
        ssim=q["ssim"],
        ms_ssim=q["ms_ssim"],
        encode_time=r.encode_time,
        decode_time=r.decode_time,
        latents_time=r.latents_time,
    )
    return m, r.data, r.decoded


def _odd_at_most(n: int) -> int:
    return n if n % 2 else n - 1


def _check_pair(original: Any, decoded: Any) -> None:
    from jpegai_eval.framework.api.types import check_image

    check_image(original)
    check_image(decoded)
    if original.shape != decoded.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {decoded.shape}")


def _pair_tensors(original: NDArray[Any], decoded: NDArray[Any]):  # type: ignore[no-untyped-def]
    import torch

    _check_pair(original, decoded)

    def t(a: NDArray[Any]) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32).permute(2, 0, 1).unsqueeze(0)

    return t(original), t(decoded)


def _check_sizes(paths: list[Any], metrics: Sequence[Metric]) -> None:
    """Refuse, before any coding, an image smaller than a metric computes on (VMAF:
    17 px a side), naming the file: read from the headers only. A file whose header
    cannot be read is left to the reading, which names it."""
    from pathlib import Path

    from jpegai_eval.framework.errors import ImageSizeError
    from jpegai_eval.framework.io.image_io import image_size

    if not any(m.min_side > 1 for m in metrics):
        return
    for p in paths:
        size = image_size(Path(p))
        if isinstance(size, str):
            continue
        for metric in metrics:
            problem = metric.size_problem(*size)
            if problem:
                raise ImageSizeError(f"{p} is {problem}.")


def evaluate_images(
    model: CodecModel, paths: list[Any], metrics: Sequence[Metric] = ()
) -> dict[str, float]:
    """Mean of every :class:`Measurement` field over the images at ``paths``, and of
    each of ``metrics`` beyond psnr, ms_ssim and ssim (registered metric records, by
    their column name)."""
    import numpy as np

    from jpegai_eval.framework.api.metric_types import ImagePair, compute_metrics
    from jpegai_eval.framework.io.image_io import read_image

    extra = [m for m in metrics if m.column_name not in ("psnr", "ms_ssim", "ssim")]
    _check_sizes(paths, extra)
    rows = []
    for p in paths:
        image = read_image(p)
        m, _, decoded = measure(model, image)
        row = m.as_row()
        if extra:
            [computed] = compute_metrics(extra, [ImagePair(image, decoded, name=str(p))])
            row.update({x.column_name: computed.values.get(x.id) for x in extra})
        rows.append(row)
    summary: dict[str, float] = {}
    for key in rows[0]:
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            summary[key] = round(float(np.mean(values)), 6)
    return summary
