"""JPEG AI's objective metrics, computed the way its verification model (VM) computes
them (``src/codec/metrics/metrics.py`` of the VM; public mirror
``akarabutov/jpeg-ai-reference-software``).

Every metric reads the planes of :class:`~jpegai_eval.framework.api.metric_types.ImagePair`
(BT.709 full-range YUV 4:4:4 at 10 bits, or the VM's RGB rounded to 10 bits) and pads
a small image the way the VM does before the metric's own code runs:

========== ============ ===================== ===========================================
metric     plane, range padding (bottom/right) code
========== ============ ===================== ===========================================
psnr_y/u/v one plane,   none                  here: peak 1023, 100 dB when identical
           x1023
ms_ssim_y  Y, x1023     zeros to 164 px       pytorch-msssim ``ms_ssim(data_range=1023)``
iw_ssim    Y, x255      zeros to 256 px       here (Wang & Li 2011, as Python-IW-SSIM);
                                              pyrtools' Laplacian pyramid
vif        Y, x255      zeros to 64 px        piq ``vif_p`` (pixel-domain VIF, sigma_n^2=2)
fsim       RGB, x255    none                  piq ``fsim`` (FSIMc)
nlpd       Y, [0, 1]    zeros to 128 px       here (Laparra et al. 2016, the VM's
                                              IQA_pytorch constants)
psnr_hvs   Y, [0, 1]    edge copy to x8       psnr-hvsm ``psnr_hvs_hvsm``
psnr_hvs_m Y, [0, 1]    edge copy to x8       psnr-hvsm ``psnr_hvs_hvsm``
vmaf       YUV 10-bit   none                  ffmpeg's libvmaf (imageio-ffmpeg's ffmpeg),
                                              fed the 10-bit planes, model vmaf_v0.6.1
========== ============ ===================== ===========================================

Heavy libraries are imported where a metric runs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.metric_types import ImagePair, psnr_from_mse

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

BITS = 10
PEAK = (1 << BITS) - 1

#: The VM's minimum sizes: it pads smaller images with zeros (bottom and right).
MS_SSIM_MIN = 164
VIF_MIN = 64
NLPD_MIN = 128
IW_SSIM_MIN = 256


def pad_to_min(x: NDArray[Any], size: int) -> NDArray[Any]:
    """Zero-pad the last two axes at the bottom and right to at least ``size``."""
    import numpy as np

    h, w = x.shape[-2:]
    pad = [(0, 0)] * (x.ndim - 2) + [(0, max(size - h, 0)), (0, max(size - w, 0))]
    return np.pad(x, pad)


def _t(x: NDArray[Any], dtype: Any = None) -> torch.Tensor:
    """A (H, W) or (C, H, W) array as a (1, C, H, W) tensor."""
    import torch

    t = torch.from_numpy(x.copy())
    if dtype is not None:
        t = t.to(dtype)
    while t.ndim < 4:
        t = t.unsqueeze(0)
    return t


# ------------------------------------------------------------------------- PSNR


def psnr_plane(pairs: Sequence[ImagePair], plane: str) -> list[float]:
    """PSNR of one 10-bit plane with peak 1023 (the VM gives 100 for identical planes)."""
    import numpy as np

    out = []
    for pair in pairs:
        a, b = pair.plane(plane, BITS)
        mse = float(np.mean((a * PEAK - b * PEAK) ** 2))
        out.append(psnr_from_mse(mse, PEAK, identical=100.0))
    return out


# ---------------------------------------------------------------------- MS-SSIM


def ms_ssim_y(pairs: Sequence[ImagePair]) -> list[float]:
    """MS-SSIM of Y at 10 bits (data range 1023), zero-padded to 164 px."""
    import torch
    from pytorch_msssim import ms_ssim

    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.plane("Y", BITS)
            ta = _t(pad_to_min(a * PEAK, MS_SSIM_MIN), torch.float32)
            tb = _t(pad_to_min(b * PEAK, MS_SSIM_MIN), torch.float32)
            out.append(float(ms_ssim(ta, tb, data_range=float(PEAK))))
    return out


# --------------------------------------------------------------------- PSNR-HVS


def _hvs(pair: ImagePair) -> tuple[float, float]:
    """(PSNR-HVS, PSNR-HVS-M) of Y in [0, 1], edge-padded to a multiple of 8; cached on
    the pair, since one call gives both."""
    import numpy as np

    with contextlib.redirect_stdout(io.StringIO()):  # it prints a note when it loads
        from psnr_hvsm import psnr_hvs_hvsm

    key = ("psnr_hvs_hvsm", BITS)
    if key not in pair._cache:
        a, b = pair.plane("Y", BITS)
        h, w = a.shape
        pad = ((0, -h % 8), (0, -w % 8))
        a8 = np.ascontiguousarray(np.pad(a, pad, mode="edge"), dtype=np.float64)
        b8 = np.ascontiguousarray(np.pad(b, pad, mode="edge"), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):  # flat blocks: 0/0, unused
            hvs, hvsm = psnr_hvs_hvsm(a8, b8)
        pair._cache[key] = (float(hvs), float(hvsm))
    return pair._cache[key]  # type: ignore[no-any-return]


def psnr_hvs(pairs: Sequence[ImagePair]) -> list[float]:
    return [_hvs(p)[0] for p in pairs]


def psnr_hvs_m(pairs: Sequence[ImagePair]) -> list[float]:
    return [_hvs(p)[1] for p in pairs]


# -------------------------------------------------------------------- VIF, FSIM


def vif(pairs: Sequence[ImagePair]) -> list[float]:
    """Pixel-domain VIF of Y (x255, zero-padded to 64 px), piq's ``vif_p``."""
    import piq
    import torch

    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.plane("Y", BITS)
            ta = _t(pad_to_min(a, VIF_MIN), torch.float32)
            tb = _t(pad_to_min(b, VIF_MIN), torch.float32)
            out.append(float(piq.vif_p(tb, ta, data_range=1.0, reduction="none")))
    return out


def fsim(pairs: Sequence[ImagePair]) -> list[float]:
    """FSIMc of the VM's 10-bit RGB (x255, no padding), piq's ``fsim``."""
    import piq
    import torch

    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.vm_rgb(BITS)
            ta, tb = _t(a, torch.float32), _t(b, torch.float32)
            out.append(float(piq.fsim(tb, ta, data_range=1.0, chromatic=True, reduction="none")))
    return out


# ------------------------------------------------------------------------- NLPD

#: The 5x5 pyramid filter, the divisive-normalisation filters and the constants of
#: Laparra et al. (2016) as the VM's NLPD (IQA_pytorch) uses them.
_NLPD_FILTER = (
    (0.0025, 0.0125, 0.0200, 0.0125, 0.0025),
    (0.0125, 0.0625, 0.1000, 0.0625, 0.0125),
    (0.0200, 0.1000, 0.1600, 0.1000, 0.0200),
    (0.0125, 0.0625, 0.1000, 0.0625, 0.0125),
    (0.0025, 0.0125, 0.0200, 0.0125, 0.0025),
)
_NLPD_SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
#: Per level: (up, left, right, down) weights of the 3x3 cross-shaped DN filter.
_NLPD_DN = (
    (0.1011, 0.1493, 0.1460, 0.1015),
    (0.0757, 0.1986, 0.1846, 0.0837),
    (0.0477, 0.2138, 0.2243, 0.0467),
    (0.0, 0.2503, 0.2616, 0.0),
    (0.0, 0.2598, 0.2552, 0.0),
    (0.0, 0.2215, 0.0717, 0.0),
)


def _nlpd_pyramid(x: torch.Tensor) -> list[torch.Tensor]:
    import torch
    import torch.nn.functional as F

    filt = torch.tensor(_NLPD_FILTER, dtype=x.dtype).view(1, 1, 5, 5)
    levels = []
    j = x
    for level, (up, left, right, down) in enumerate(_NLPD_DN):
        low = F.conv2d(F.pad(j, (2, 2, 2, 2), mode="reflect"), filt, stride=2)
        up2 = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=True)
        up2 = F.conv2d(F.pad(up2, (2, 2, 2, 2), mode="reflect"), filt)
        if up2.shape != j.shape:
            up2 = F.interpolate(up2, size=j.shape[-2:], mode="nearest")
        band = j - up2
        dn = torch.tensor(
            [[0.0, up, 0.0], [left, 0.0, right], [0.0, down, 0.0]], dtype=x.dtype
        ).view(1, 1, 3, 3)
        norm = F.conv2d(F.pad(band.abs(), (1, 1, 1, 1), mode="reflect"), dn)
        levels.append(band / (_NLPD_SIGMAS[level] + norm))
        j = low
    return levels


def nlpd(pairs: Sequence[ImagePair]) -> list[float]:
    """Normalised Laplacian pyramid distance of Y in [0, 1], zero-padded to 128 px
    (six levels; lower is better)."""
    import torch

    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.plane("Y", BITS)
            pa = _nlpd_pyramid(_t(pad_to_min(a, NLPD_MIN), torch.float32))
            pb = _nlpd_pyramid(_t(pad_to_min(b, NLPD_MIN), torch.float32))
            dists = [torch.sqrt(torch.mean((za - zb) ** 2)) for za, zb in zip(pa, pb, strict=True)]
            out.append(float(torch.stack(dists).mean()))
    return out


# ---------------------------------------------------------------------- IW-SSIM

_IW_SCALES = 5
_IW_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_IW_SIGMA_NSQ = 0.4


def _gaussian_taps(size: int = 11, sigma: float = 1.5) -> NDArray[Any]:
    """The 1-D factor of MATLAB's ``fspecial('gaussian')`` (which zeroes taps under
    eps * max: none at 11 taps and sigma 1.5, so the window is separable)."""
    import numpy as np

    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()  # type: ignore[no-any-return]


def _separable_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Valid 2-D filtering of (1, 1, H, W) by the outer product of ``taps``."""
    import torch.nn.functional as F

    n = taps.numel()
    return F.conv2d(F.conv2d(x, taps.view(1, 1, n, 1)), taps.view(1, 1, 1, n))


def _enlarge2(band: torch.Tensor) -> torch.Tensor:
    """Python-IW-SSIM's ``imenlarge2``: bilinear 2x upsampling of a parent band."""
    import torch
    import torch.nn.functional as F

    _, _, m, n = band.shape
    inner = F.interpolate(band, size=(4 * m - 3, 4 * n - 3), mode="bilinear", align_corners=True)
    big = torch.zeros((1, 1, 4 * m - 1, 4 * n - 1), dtype=band.dtype)
    big[:, :, 1:-1, 1:-1] = inner
    big[:, :, 0, :] = 2 * big[:, :, 1, :] - big[:, :, 2, :]
    big[:, :, -1, :] = 2 * big[:, :, -2, :] - big[:, :, -3, :]
    big[:, :, :, 0] = 2 * big[:, :, :, 1] - big[:, :, :, 2]
    big[:, :, :, -1] = 2 * big[:, :, :, -2] - big[:, :, :, -3]
    return big[:, :, ::2, ::2]


def _info_weight(
    ref: torch.Tensor, dist: torch.Tensor, parent: torch.Tensor | None
) -> torch.Tensor:
    """The information-content weight map of one band (3x3 neighbourhood plus parent)."""
    import torch
    import torch.nn.functional as F

    tol = 1e-15
    win = torch.full((1, 1, 3, 3), 1.0 / 9, dtype=ref.dtype)
    mean_x = F.conv2d(ref, win, padding=1)
    mean_y = F.conv2d(dist, win, padding=1)
    cov_xy = F.conv2d(ref * dist, win, padding=1) - mean_x * mean_y
    ss_x = (F.conv2d(ref**2, win, padding=1) - mean_x**2).clamp(min=0)
    ss_y = (F.conv2d(dist**2, win, padding=1) - mean_y**2).clamp(min=0)
    g = cov_xy / (ss_x + tol)
    vv = ss_y - g * cov_xy
    g = torch.where(ss_x < tol, 0.0, g)
    vv = torch.where(ss_x < tol, ss_y, vv)
    g = torch.where(ss_y < tol, 0.0, g)
    vv = torch.where(ss_y < tol, 0.0, vv)

    # Neighbourhood vectors: the 3x3 block of every interior pixel, plus its parent.
    h, w = ref.shape[-2:]
    cols = F.unfold(ref, 3).squeeze(0)  # (9, (h-2)*(w-2)), row-major blocks
    if parent is not None:
        cols = torch.cat([cols, parent[0, 0, 1 : h - 1, 1 : w - 1].reshape(1, -1)])
    n = cols.shape[0]
    y = cols.T
    cov = y.T @ y / y.shape[0]
    eig, vecs = torch.linalg.eigh(cov)
    positive = eig.clamp(min=0)
    denom = positive.sum() + (positive.sum() == 0)
    cov = vecs @ torch.diag(positive * eig.sum() / denom) @ vecs.T
    ss = ((y @ torch.linalg.inv(cov)) * y).sum(1) / n
    ss = ss.view(1, 1, h - 2, w - 2)
    g = g[:, :, 1:-1, 1:-1]
    vv = vv[:, :, 1:-1, 1:-1]
    s2 = _IW_SIGMA_NSQ
    info = torch.zeros_like(g)
    for lam in eig:
        info = info + torch.log2(1 + ((vv + (1 + g * g) * s2) * ss * lam + s2 * vv) / (s2 * s2))
    return torch.where(info < tol, 0.0, info)


def iw_ssim(pairs: Sequence[ImagePair]) -> list[float]:
    """Information-content-weighted SSIM of Y (x255, zero-padded to 256 px), five
    scales of a Laplacian pyramid (pyrtools), in float64."""
    import numpy as np
    import pyrtools as pt
    import torch

    taps = torch.from_numpy(_gaussian_taps())
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.plane("Y", BITS)
            a = pad_to_min(a * 255, IW_SSIM_MIN).astype(np.float32)
            b = pad_to_min(b * 255, IW_SSIM_MIN).astype(np.float32)
            pyr_a = pt.pyramids.LaplacianPyramid(a, height=_IW_SCALES).pyr_coeffs
            pyr_b = pt.pyramids.LaplacianPyramid(b, height=_IW_SCALES).pyr_coeffs
            bands_a = [_t(np.asarray(pyr_a[(s, 0)]), torch.float64) for s in range(_IW_SCALES)]
            bands_b = [_t(np.asarray(pyr_b[(s, 0)]), torch.float64) for s in range(_IW_SCALES)]
            scores = []
            for s in range(_IW_SCALES):
                x, y = bands_a[s], bands_b[s]
                mu1, mu2 = _separable_valid(x, taps), _separable_valid(y, taps)
                s12 = _separable_valid(x * y, taps) - mu1 * mu2
                s1 = (_separable_valid(x * x, taps) - mu1 * mu1).clamp(min=0)
                s2 = (_separable_valid(y * y, taps) - mu2 * mu2).clamp(min=0)
                cs = (2 * s12 + c2) / (s1 + s2 + c2)
                if s == _IW_SCALES - 1:
                    cs = cs * (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1)
                    scores.append(cs.mean())
                    continue
                parent = None
                if s < _IW_SCALES - 2:
                    h, w = x.shape[-2:]
                    parent = _enlarge2(bands_a[s + 1])[:, :, :h, :w]
                iw = _info_weight(x, y, parent)[:, :, 4:-4, 4:-4]
                scores.append((cs * iw).sum() / iw.sum())
            weights = torch.tensor(_IW_WEIGHTS, dtype=torch.float64)
            out.append(float(torch.prod(torch.stack(scores).abs() ** weights)))
    return out


# ------------------------------------------------------------------------- VMAF


@functools.lru_cache(maxsize=1)
def vmaf_unavailable_reason() -> str | None:
    """Why VMAF cannot run here (None when imageio-ffmpeg's ffmpeg has libvmaf)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return (
            "the Python package imageio-ffmpeg is not installed (pip install imageio-ffmpeg; "
            "its bundled ffmpeg has the libvmaf filter)"
        )
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        return f"imageio-ffmpeg found no ffmpeg executable ({exc})"
    try:
        listing = subprocess.run(
            [exe, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"ffmpeg at {exe} does not run ({exc})"
    if " libvmaf " not in listing:
        return f"the ffmpeg at {exe} was built without the libvmaf filter"
    return None


def _yuv10_bytes(yuv: NDArray[Any]) -> bytes:
    """Planar 10-bit little-endian YUV 4:4:4 (ffmpeg's yuv444p10le) of planes in [0, 1]."""
    import numpy as np

    data: bytes = np.round(yuv * PEAK).astype("<u2").tobytes()
    return data


def vmaf(pairs: Sequence[ImagePair]) -> list[float]:
    """VMAF (model vmaf_v0.6.1) of the 10-bit YUV 4:4:4 planes, by ffmpeg's libvmaf."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    out = []
    with tempfile.TemporaryDirectory(prefix="jpegai-vmaf-") as tmp:
        ref, dist, log = (os.path.join(tmp, n) for n in ("ref.yuv", "dist.yuv", "vmaf.json"))
        for pair in pairs:
            a, b = pair.vm_yuv(BITS)
            with open(ref, "wb") as f:
                f.write(_yuv10_bytes(a))
            with open(dist, "wb") as f:
                f.write(_yuv10_bytes(b))
            size = f"{pair.width}x{pair.height}"
            raw = ["-f", "rawvideo", "-pix_fmt", "yuv444p10le", "-s", size]
            # libvmaf: the first input is the distorted image, the second the reference.
            cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin"]
            cmd += [*raw, "-i", dist, *raw, "-i", ref]
            cmd += ["-lavfi", f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-"]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                raise RuntimeError(f"ffmpeg libvmaf failed: {result.stderr.strip()[-500:]}")
            with open(log) as f:
                out.append(float(json.load(f)["frames"][0]["metrics"]["vmaf"]))
    return out
