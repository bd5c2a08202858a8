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
vif        Y, x255      zeros to 64 px        here: piq's ``vif_p`` (pixel-domain VIF,
                                              sigma_n^2=2), windows as two 1-D passes
fsim       RGB, x255    none                  here: piq's ``fsim`` (FSIMc), log-Gabor
                                              filters and noise terms cached per size,
                                              both images in one FFT batch (scipy)
nlpd       Y, [0, 1]    zeros to 128 px       here (Laparra et al. 2016, the VM's
                                              IQA_pytorch constants)
psnr_hvs   Y, [0, 1]    edge copy to x8       psnr-hvsm ``psnr_hvs_hvsm`` (its C++
                                              backend)
psnr_hvs_m Y, [0, 1]    edge copy to x8       psnr-hvsm ``psnr_hvs_hvsm`` (its C++
                                              backend)
vmaf       YUV 10-bit   none                  ffmpeg's libvmaf (imageio-ffmpeg's ffmpeg),
                                              fed the 10-bit planes, model vmaf_v0.6.1
========== ============ ===================== ===========================================

Heavy libraries are imported where a metric runs. FSIM, VIF and IW-SSIM are restructured
for speed, not changed: FSIM and VIF give piq's values to float32 rounding (1e-7 and
1e-5 relative), IW-SSIM its all-float64 values to 1e-8; the planes are float32, as the
VM computes them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import subprocess
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.metric_types import ImagePair, MetricError, psnr_from_mse

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

BITS = 10
PEAK = (1 << BITS) - 1

#: The VMAF model: the default of the VM's vmaf tool (v2.2.1) and of ffmpeg's libvmaf.
VMAF_MODEL = "vmaf_v0.6.1"
#: The smallest side libvmaf computes on: imageio-ffmpeg's ffmpeg crashes (SIGSEGV) on
#: images of 16 pixels or fewer on a side (measured, 8 to 16 px).
VMAF_MIN_SIDE = 17

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
        mse = float(np.mean(np.square(a * PEAK - b * PEAK), dtype=np.float64))
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


@functools.lru_cache(maxsize=1)
def _psnr_hvs_hvsm() -> Any:
    """psnr-hvsm's ``psnr_hvs_hvsm``, from its C++ backend where its wheel has it (the
    same values as its default numpy backend to 1e-14 dB, 2.8x faster at 368 px), else
    from the numpy one."""
    with contextlib.redirect_stdout(io.StringIO()):  # it prints notes when it loads
        import psnr_hvsm

    backend = psnr_hvsm.BACKENDS.get("cpp", psnr_hvsm.BACKENDS["numpy"])
    return backend["psnr_hvs_hvsm"]


def _hvs(pair: ImagePair) -> tuple[float, float]:
    """(PSNR-HVS, PSNR-HVS-M) of Y in [0, 1], edge-padded to a multiple of 8; cached on
    the pair, since one call gives both."""
    import numpy as np

    key = ("psnr_hvs_hvsm", BITS)
    if key not in pair._cache:
        a, b = pair.plane("Y", BITS)
        h, w = a.shape
        pad = ((0, -h % 8), (0, -w % 8))
        a8 = np.ascontiguousarray(np.pad(a, pad, mode="edge"), dtype=np.float64)
        b8 = np.ascontiguousarray(np.pad(b, pad, mode="edge"), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):  # flat blocks: 0/0, unused
            hvs, hvsm = _psnr_hvs_hvsm()(a8, b8)
        pair._cache[key] = (float(hvs), float(hvsm))
    return pair._cache[key]  # type: ignore[no-any-return]


def psnr_hvs(pairs: Sequence[ImagePair]) -> list[float]:
    return [_hvs(p)[0] for p in pairs]


def psnr_hvs_m(pairs: Sequence[ImagePair]) -> list[float]:
    return [_hvs(p)[1] for p in pairs]


# -------------------------------------------------------------------- VIF, FSIM


def _separable_valid(x: torch.Tensor, taps: Sequence[float]) -> torch.Tensor:
    """Valid 2-D filtering of the maps ``x`` (..., H, W) by the outer product of
    ``taps``, as shifted sums: faster on the CPU than torch's depthwise convolution in
    float32, which has no fast path for one channel a group, and than its float64
    convolution, which has none at all."""
    import torch

    n = len(taps)
    h, w = x.shape[-2] - n + 1, x.shape[-1] - n + 1
    rows = torch.mul(x[..., 0:h, :], taps[0])
    for i in range(1, n):
        rows.add_(x[..., i : i + h, :], alpha=taps[i])
    out = torch.mul(rows[..., 0:w], taps[0])
    for i in range(1, n):
        out.add_(rows[..., i : i + w], alpha=taps[i])
    return out


def _vif_p(dist: torch.Tensor, ref: torch.Tensor, sigma_n_sq: float = 2.0) -> float:
    """Pixel-domain VIF of ``dist`` against ``ref`` ((1, 1, H, W) in [0, 1]): piq's
    ``vif_p(dist, ref, data_range=1)``, with its Gaussian windows applied as two 1-D
    passes (they are outer products) of shifted sums on the five moment maps at once
    (2-3x faster than torch's depthwise convolution on the CPU)."""
    import torch

    eps = 1e-8
    x, y = dist * 255, ref * 255
    x_vif = y_vif = 0.0
    for scale in range(4):
        size = 2 ** (4 - scale) + 1
        coords = torch.arange(size, dtype=x.dtype) - (size - 1) / 2.0
        taps = torch.exp(-(coords**2) / (2 * (size / 5) ** 2))
        taps = taps / taps.sum()
        if scale > 0:
            xy = _separable_valid(torch.cat([x, y], dim=1), taps.tolist())[:, :, ::2, ::2]
            x, y = xy[:, :1], xy[:, 1:]
        moments = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        mu_x, mu_y, xx, yy, xy = _separable_valid(moments, taps.tolist())[0]
        sigma_x_sq = torch.relu(xx - mu_x * mu_x)
        sigma_y_sq = torch.relu(yy - mu_y * mu_y)
        sigma_xy = xy - mu_x * mu_y
        g = sigma_xy / (sigma_y_sq + eps)
        sigma_v_sq = sigma_x_sq - g * sigma_xy
        g = torch.where(sigma_y_sq >= eps, g, 0.0)
        sigma_v_sq = torch.where(sigma_y_sq >= eps, sigma_v_sq, sigma_x_sq)
        sigma_y_sq = torch.where(sigma_y_sq >= eps, sigma_y_sq, 0.0)
        g = torch.where(sigma_x_sq >= eps, g, 0.0)
        sigma_v_sq = torch.where(sigma_x_sq >= eps, sigma_v_sq, 0.0)
        sigma_v_sq = torch.where(g >= 0, sigma_v_sq, sigma_x_sq)
        g = torch.relu(g)
        sigma_v_sq = torch.where(sigma_v_sq > eps, sigma_v_sq, eps)
        x_vif += float(torch.log10(1.0 + g**2 * sigma_y_sq / (sigma_v_sq + sigma_n_sq)).sum())
        y_vif += float(torch.log10(1.0 + sigma_y_sq / sigma_n_sq).sum())
    return (x_vif + eps) / (y_vif + eps)


def vif(pairs: Sequence[ImagePair]) -> list[float]:
    """Pixel-domain VIF of Y (x255, zero-padded to 64 px), as piq's ``vif_p``."""
    import torch

    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.plane("Y", BITS)
            ta = _t(pad_to_min(a, VIF_MIN), torch.float32)
            tb = _t(pad_to_min(b, VIF_MIN), torch.float32)
            out.append(_vif_p(tb, ta))
    return out


#: FSIM's phase-congruency parameters (Kovesi's, as piq and IQA_pytorch use them).
_PC_SCALES, _PC_ORIENTATIONS, _PC_MIN_LENGTH, _PC_MULT = 4, 4, 6, 2
_PC_SIGMA_F, _PC_DELTA_THETA, _PC_K = 0.55, 1.2, 2.0


@functools.lru_cache(maxsize=4)
def _pc_filters(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The log-Gabor filters of an h x w image, (orientations * scales, h, w) float32
    (orientation-major, as piq's ``_construct_filters``), and each orientation's noise
    threshold per unit of noise power: piq computes both for every image; they depend
    on the size only, so they are made once per size here."""
    import torch

    dtype = torch.float32

    def axis(n: int) -> torch.Tensor:
        if n % 2:
            return torch.arange(-(n - 1) / 2, n / 2, dtype=dtype) / (n - 1)
        return torch.arange(-n / 2, n / 2, dtype=dtype) / n

    def ifftshift(x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, [-(n // 2) for n in x.shape], tuple(range(x.ndim)))

    # piq's grid: "x" runs down the rows, "y" along the columns.
    grid_x, grid_y = torch.meshgrid(axis(h), axis(w), indexing="ij")
    radius = torch.sqrt(grid_x**2 + grid_y**2)
    theta = torch.atan2(-grid_y, grid_x)
    lowpass = ifftshift(1.0 / (1.0 + (radius / 0.45) ** 30))
    radius, theta = ifftshift(radius), ifftshift(theta)
    radius[0, 0] = 1
    log_gabor = []
    for s in range(_PC_SCALES):
        omega_0 = 1.0 / (_PC_MIN_LENGTH * _PC_MULT**s)
        g = torch.exp((-(torch.log(radius / omega_0) ** 2)) / (2 * math.log(_PC_SIGMA_F) ** 2))
        g = g * lowpass
        g[0, 0] = 0
        log_gabor.append(g)
    theta_sigma = math.pi / (_PC_ORIENTATIONS * _PC_DELTA_THETA)
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)
    filters = []
    for o in range(_PC_ORIENTATIONS):
        angle = o * math.pi / _PC_ORIENTATIONS
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = torch.exp((-(torch.atan2(ds, dc).abs() ** 2)) / (2 * theta_sigma**2))
        filters += [spread * g for g in log_gabor]
    bank = torch.stack(filters)
    # The noise model of Kovesi's phasecong: the expected noise energy and its spread
    # follow from the spatial filters (their squares and cross products, per
    # orientation) and the smallest scale's mean squared filter value.
    spatial = torch.fft.ifft2(bank).real.mul(math.sqrt(h * w))
    spatial = spatial.view(_PC_ORIENTATIONS, _PC_SCALES, h, w)
    sum_an2 = (spatial**2).sum(dim=1).sum(dim=[-1, -2])
    sum_ai_aj = torch.zeros(_PC_ORIENTATIONS, h, w, dtype=dtype)
    for s in range(_PC_SCALES - 1):
        sum_ai_aj = sum_ai_aj + (spatial[:, s : s + 1] * spatial[:, s + 1 :]).sum(dim=1)
    sum_ai_aj = sum_ai_aj.sum(dim=[-1, -2])
    em_n = (bank.view(_PC_ORIENTATIONS, _PC_SCALES, h, w)[:, 0] ** 2).sum(dim=[-1, -2])
    # noise energy^2 = noise_power * (2 sum_an2 + 4 sum_ai_aj), noise_power = mean_e2n / em_n
    per_power = (2 * sum_an2 + 4 * sum_ai_aj) / em_n
    return bank, per_power


def _phase_congruency(lum: torch.Tensor) -> torch.Tensor:
    """Phase congruency maps (N, 1, H, W) of luminance images (N, 1, H, W) in float32:
    piq's ``_phase_congruency``, with every image of the batch in one FFT (scipy's
    pocketfft, in complex64: faster than torch's at sizes with a large prime factor,
    such as MINC's 362 = 2 x 181)."""
    import scipy.fft
    import torch

    n, _, h, w = lum.shape
    eps = torch.finfo(lum.dtype).eps
    bank, per_power = _pc_filters(h, w)
    workers = max(1, torch.get_num_threads())
    spectrum = scipy.fft.fft2(lum.numpy(), workers=workers) * bank.numpy()
    even_odd = torch.from_numpy(scipy.fft.ifft2(spectrum, overwrite_x=True, workers=workers))
    even_odd = even_odd.view(n, _PC_ORIENTATIONS, _PC_SCALES, h, w)

    # The even and odd responses are the real and imaginary parts, read in place.
    even, odd = even_odd.real, even_odd.imag
    an = torch.hypot(even, odd)
    sums = even_odd.sum(dim=2, keepdim=True)
    sum_e, sum_o = sums.real, sums.imag
    x_energy = torch.hypot(sum_e, sum_o)
    inverse = 1 / (x_energy + eps)
    mean_e, mean_o = sum_e * inverse, sum_o * inverse
    # piq's energy, sum over scales of even*mean_e + odd*mean_o - |even*mean_o -
    # odd*mean_e|: the first two terms sum to |sum| * |sum| / (|sum| + eps).
    cross = torch.mul(odd, mean_e).sub_(even * mean_o).abs_().sum(dim=2, keepdim=True)
    energy = x_energy * x_energy * inverse - cross
    # Noise: the median squared response at the smallest scale, as piq (torch.median:
    # the lower middle value).
    median_e2n = torch.median((an[:, :, 0] ** 2).reshape(n, _PC_ORIENTATIONS, h * w), dim=-1).values
    noise_energy2 = (-median_e2n / math.log(0.5)) * per_power  # (N, O)
    tau = torch.sqrt(noise_energy2 / 2).view(n, _PC_ORIENTATIONS, 1, 1, 1)
    threshold = (
        tau * math.sqrt(math.pi / 2) + _PC_K * torch.sqrt((2 - math.pi / 2) * tau**2)
    ) / 1.7
    energy = torch.clamp(energy - threshold, min=0)
    energy_all = energy.sum(dim=[1, 2]) + eps
    an_all = an.sum(dim=[1, 2]) + eps
    return (energy_all / an_all).unsqueeze(1)


def _fsim_c(x: torch.Tensor, y: torch.Tensor) -> float:
    """FSIMc of the distorted ``x`` against the reference ``y``, RGB (1, 3, H, W) in
    [0, 1] float32: piq's ``fsim(x, y, chromatic=True)``, with the filters cached per
    size (:func:`_pc_filters`) and both images in one phase-congruency batch."""
    import torch
    import torch.nn.functional as F

    both = torch.cat([x, y]) * 255
    pool = max(1, round(min(both.shape[-2:]) / 256))
    if pool > 1:  # piq pools with a kernel of 1 too: the identity
        both = F.avg_pool2d(both, pool)
    yiq_weights = torch.tensor(
        [[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]],
        dtype=both.dtype,
    ).t()
    yiq = torch.matmul(both.permute(0, 2, 3, 1), yiq_weights).permute(0, 3, 1, 2)
    lum, i_chan, q_chan = yiq[:, :1], yiq[:, 1:2], yiq[:, 2:]
    pc = _phase_congruency(lum)
    scharr = torch.tensor([[-3.0, 0.0, 3.0], [-10.0, 0.0, 10.0], [-3.0, 0.0, 3.0]]) / 16
    kernels = torch.stack([scharr, scharr.t()]).unsqueeze(1)
    grad = torch.sqrt((F.conv2d(lum, kernels, padding=1) ** 2).sum(dim=1, keepdim=True))

    def similarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
        return (2.0 * a * b + c) / (a**2 + b**2 + c)

    pc_sim = similarity(pc[0], pc[1], 0.85)
    grad_sim = similarity(grad[0], grad[1], 160)
    pc_max = torch.where(pc[0] > pc[1], pc[0], pc[1])
    score = grad_sim * pc_sim * pc_max
    chroma = similarity(i_chan[0], i_chan[1], 200) * similarity(q_chan[0], q_chan[1], 200)
    score = score * torch.abs(chroma) ** 0.03
    return float(score.sum() / pc_max.sum())


def fsim(pairs: Sequence[ImagePair]) -> list[float]:
    """FSIMc of the VM's 10-bit RGB (x255, no padding), as piq's ``fsim`` computes it."""
    import torch

    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.vm_rgb(BITS)
            out.append(_fsim_c(_t(b, torch.float32), _t(a, torch.float32)))
    return out


# ------------------------------------------------------------------------- NLPD

#: The pyramid filter, the divisive-normalisation filters and the constants of
#: Laparra et al. (2016) as the VM's NLPD (IQA_pytorch) uses them. Its 5x5 filter
#: (0.0025, 0.0125, 0.02, ... 0.16) is the outer product of these taps.
_NLPD_TAPS = (0.05, 0.25, 0.4, 0.25, 0.05)
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
    """The normalised Laplacian pyramid of ``x`` (N, 1, H, W): IQA_pytorch's, with its
    convolutions as shifted sums (the 5x5 filter is separable; the stride-2 one is the
    full filtering taken at even positions; the divisive normalisation is a cross of
    four neighbours), 5x faster than torch's single-channel convolutions on the CPU."""
    import torch.nn.functional as F

    levels = []
    j = x
    for level, (up, left, right, down) in enumerate(_NLPD_DN):
        low = _separable_valid(F.pad(j, (2, 2, 2, 2), mode="reflect"), _NLPD_TAPS)[..., ::2, ::2]
        up2 = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=True)
        up2 = _separable_valid(F.pad(up2, (2, 2, 2, 2), mode="reflect"), _NLPD_TAPS)
        if up2.shape != j.shape:
            up2 = F.interpolate(up2, size=j.shape[-2:], mode="nearest")
        band = j - up2
        a = F.pad(band.abs(), (1, 1, 1, 1), mode="reflect")
        h, w = band.shape[-2:]
        norm = a[..., 1 : h + 1, 0:w] * left + a[..., 1 : h + 1, 2 : w + 2] * right
        if up:
            norm.add_(a[..., 0:h, 1 : w + 1], alpha=up)
        if down:
            norm.add_(a[..., 2 : h + 2, 1 : w + 1], alpha=down)
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
            both = torch.cat([_t(pad_to_min(x, NLPD_MIN), torch.float32) for x in (a, b)])
            levels = _nlpd_pyramid(both)  # both images' pyramids in one batch
            dists = [torch.sqrt(torch.mean((z[0] - z[1]) ** 2)) for z in levels]
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
    maps = F.pad(torch.cat([ref, dist, ref * dist, ref**2, dist**2], dim=1), (1, 1, 1, 1))
    mean_x, mean_y, m_xy, m_xx, m_yy = torch.split(_separable_valid(maps, [1.0 / 3] * 3), 1, dim=1)
    cov_xy = m_xy - mean_x * mean_y
    ss_x = (m_xx - mean_x**2).clamp(min=0)
    ss_y = (m_yy - mean_y**2).clamp(min=0)
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
    wide = cols.double()  # the covariance sums 10^5 products: float64, as are its eigenvalues
    cov = wide @ wide.T / cols.shape[1]
    eig, vecs = torch.linalg.eigh(cov)
    positive = eig.clamp(min=0)
    denom = positive.sum() + (positive.sum() == 0)
    cov = vecs @ torch.diag(positive * eig.sum() / denom) @ vecs.T
    # Each vector's y C^-1 y^T / n, on the (n, pixels) layout (C^-1 is symmetric).
    ss = ((torch.linalg.inv(cov).to(cols.dtype) @ cols) * cols).sum(0) / n
    ss = ss.view(1, 1, h - 2, w - 2)
    g = g[:, :, 1:-1, 1:-1]
    vv = vv[:, :, 1:-1, 1:-1]
    s2 = _IW_SIGMA_NSQ
    # sum over eigenvalues lam of log2(1 + ((vv + (1 + g^2) s2) ss lam + s2 vv) / s2^2),
    # with the terms that do not depend on lam computed once.
    slope = (vv + (1 + g * g) * s2) * ss / (s2 * s2)
    offset = vv / s2
    info = torch.zeros_like(g)
    for lam in eig.tolist():
        info.add_(torch.add(offset, slope, alpha=lam).log1p_())
    info.div_(math.log(2))
    return torch.where(info < tol, 0.0, info)


def iw_ssim(pairs: Sequence[ImagePair]) -> list[float]:
    """Information-content-weighted SSIM of Y (x255, zero-padded to 256 px), five
    scales of a Laplacian pyramid (pyrtools). The four band-pass scales (zero-mean,
    within +-255) are filtered in float32, the low-pass residual and every covariance
    matrix in float64: within 1e-8 of the all-float64 computation, flat areas included
    (with every map in float32, 1e-4 there), 1.6x faster."""
    import numpy as np
    import pyrtools as pt
    import torch

    taps = [float(t) for t in _gaussian_taps()]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    with torch.no_grad():
        for pair in pairs:
            a, b = pair.plane("Y", BITS)
            a = pad_to_min(a * 255, IW_SSIM_MIN).astype(np.float32)
            b = pad_to_min(b * 255, IW_SSIM_MIN).astype(np.float32)
            pyr_a = pt.pyramids.LaplacianPyramid(a, height=_IW_SCALES).pyr_coeffs
            pyr_b = pt.pyramids.LaplacianPyramid(b, height=_IW_SCALES).pyr_coeffs
            dtypes = [torch.float32] * (_IW_SCALES - 1) + [torch.float64]
            bands_a = [_t(np.asarray(pyr_a[(s, 0)]), d) for s, d in enumerate(dtypes)]
            bands_b = [_t(np.asarray(pyr_b[(s, 0)]), d) for s, d in enumerate(dtypes)]
            scores = []
            for s in range(_IW_SCALES):
                x, y = bands_a[s], bands_b[s]
                moments = torch.cat([x, y, x * y, x * x, y * y], dim=1)
                mu1, mu2, m12, m11, m22 = torch.split(_separable_valid(moments, taps), 1, dim=1)
                s12 = m12 - mu1 * mu2
                s1 = (m11 - mu1 * mu1).clamp(min=0)
                s2 = (m22 - mu2 * mu2).clamp(min=0)
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
                scores.append((cs * iw).sum(dtype=torch.float64) / iw.sum(dtype=torch.float64))
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
    """VMAF (model vmaf_v0.6.1) of the 10-bit YUV 4:4:4 planes, by ffmpeg's libvmaf.

    The VM (``metrics.py``, class ``VMAF``) runs Netflix's ``vmaf`` tool, release
    v2.2.1, as ``vmaf -r ORIG.yuv -d REC.yuv -w W -h H -p 444 -b 10 -o OUT --json``:
    no ``--model``, so the tool's built-in vmaf_v0.6.1 with its defaults (score clipped
    to [0, 100], no transform); the files are its ``write_yuv`` of the 10-bit planes
    (planar Y, U, V, 4:4:4, uint16 little-endian, ``round(plane * 1023)``); the score
    is ``frames[0].metrics.vmaf`` of the JSON log (one frame: no pooling). Here the
    same bytes (``_yuv10_bytes``) go to ffmpeg's libvmaf filter as yuv444p10le
    rawvideo (no pixel-format conversion is inserted), the decoded image as the
    distorted (first) input and the original as the reference, with the model named
    (:data:`VMAF_MODEL`), and the score is read from the same JSON field. What cannot
    be checked here: libvmaf's own version (the bundled ffmpeg's is a development
    build, not v2.2.1), since the VM's binary cannot be downloaded here."""
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
            # The VM's vmaf tool runs its default model, the built-in vmaf_v0.6.1; named
            # here so that a change of ffmpeg's default cannot change ours.
            graph = f"[0:v][1:v]libvmaf=model=version={VMAF_MODEL}:log_fmt=json:log_path={log}"
            cmd += ["-lavfi", graph, "-f", "null", "-"]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                raise MetricError(
                    f"ffmpeg's libvmaf failed on the image {pair.name or ''} ({size}, exit "
                    f"status {result.returncode}): {result.stderr.strip()[-500:] or 'no message'}"
                    f". The ffmpeg was {exe}. Leave vmaf out of --metrics, or reinstall "
                    "imageio-ffmpeg."
                )
            with open(log) as f:
                out.append(float(json.load(f)["frames"][0]["metrics"]["vmaf"]))
    return out
