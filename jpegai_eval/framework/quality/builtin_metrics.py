"""The built-in metric records: the learned-compression convention (8-bit RGB, today's
``psnr``, ``ms_ssim`` and ``ssim`` columns) and JPEG AI's suite under the verification
model's conventions (:mod:`jpegai_eval.framework.quality.vm_metrics`).

A metric whose library or tool is missing is still returned, with the reason in
``unavailable_reason``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from jpegai_eval.framework.api.metric_types import RGB8, ImagePair, Metric, vm_convention


def _rgb_structural(pair: ImagePair) -> tuple[float, float]:
    """(SSIM, MS-SSIM) on 8-bit RGB as ``framework.quality.metrics`` computes them, cached."""
    from jpegai_eval.framework.quality.metrics import ssim_and_ms_ssim

    key = ("rgb8_ssim_ms_ssim",)
    if key not in pair._cache:
        pair._cache[key] = ssim_and_ms_ssim(pair.original, pair.decoded)
    return pair._cache[key]  # type: ignore[no-any-return]


def psnr_rgb(pairs: Sequence[ImagePair]) -> list[float]:
    from jpegai_eval.framework.quality.metrics import psnr

    return [psnr(p.original, p.decoded) for p in pairs]


def ssim_rgb(pairs: Sequence[ImagePair]) -> list[float]:
    return [_rgb_structural(p)[0] for p in pairs]


def ms_ssim_rgb(pairs: Sequence[ImagePair]) -> list[float]:
    return [_rgb_structural(p)[1] for p in pairs]


def _missing(*modules_and_packages: tuple[str, str]) -> str | None:
    for module, package in modules_and_packages:
        if importlib.util.find_spec(module) is None:
            return f"the Python package {package} is not installed (pip install {package})"
    return None


def builtin_metrics() -> list[Metric]:
    """Every built-in metric, in the order reports show them."""
    return [*learned_compression_metrics(), *vm_suite()]


def learned_compression_metrics() -> list[Metric]:
    """Today's columns, as learned-compression papers (and CompressAI) compute them."""
    msssim = _missing(("pytorch_msssim", "pytorch-msssim"))
    return [
        Metric(
            "psnr_rgb",
            True,
            "dB",
            RGB8,
            psnr_rgb,
            "PSNR over 8-bit RGB (CompressAI's psnr-rgb)",
            sets=("fast",),
            column="psnr",
            implementation="jpegai-eval",
        ),
        Metric(
            "ms_ssim_rgb",
            True,
            "",
            RGB8,
            ms_ssim_rgb,
            "MS-SSIM over 8-bit RGB (CompressAI's ms-ssim-rgb)",
            sets=("fast",),
            unavailable_reason=msssim,
            column="ms_ssim",
            implementation="pytorch-msssim",
        ),
        Metric(
            "ssim_rgb",
            True,
            "",
            RGB8,
            ssim_rgb,
            "SSIM over 8-bit RGB",
            sets=("fast",),
            unavailable_reason=msssim,
            column="ssim",
            implementation="pytorch-msssim",
        ),
    ]


def _psnr_plane(plane: str) -> Metric:
    from jpegai_eval.framework.quality import vm_metrics as vm

    return Metric(
        f"psnr_{plane.lower()}",
        True,
        "dB",
        vm_convention(plane),
        lambda pairs: vm.psnr_plane(pairs, plane),
        f"PSNR of {plane} (BT.709 full range, 10-bit, peak 1023), as JPEG AI's VM",
        sets=("fast", "jpegai") if plane == "Y" else ("jpegai",),
        implementation="jpegai-eval",
    )


def vm_suite() -> list[Metric]:
    """JPEG AI's metrics under the verification model's conventions."""
    from jpegai_eval.framework.quality import vm_metrics as vm

    msssim = _missing(("pytorch_msssim", "pytorch-msssim"))
    scipy = _missing(("scipy", "scipy"))
    pyr = _missing(("pyrtools", "pyrtools"))
    y = vm_convention("Y")
    return [
        _psnr_plane("Y"),
        _psnr_plane("U"),
        _psnr_plane("V"),
        Metric(
            "ms_ssim_y",
            True,
            "",
            y,
            vm.ms_ssim_y,
            "MS-SSIM of Y, 10-bit, as JPEG AI's VM",
            sets=("jpegai",),
            unavailable_reason=msssim,
            implementation="pytorch-msssim",
        ),
        Metric(
            "iw_ssim",
            True,
            "",
            y,
            vm.iw_ssim,
            "Information-weighted SSIM of Y, as JPEG AI's VM",
            sets=("jpegai",),
            unavailable_reason=pyr,
            implementation="jpegai-eval (pyrtools pyramid)",
        ),
        Metric(
            "vif",
            True,
            "",
            y,
            vm.vif,
            "Pixel-domain VIF of Y, as JPEG AI's VM",
            sets=("jpegai",),
            implementation="jpegai-eval (piq's vif_p, separable windows)",
        ),
        Metric(
            "fsim",
            True,
            "",
            vm_convention("RGB"),
            vm.fsim,
            "FSIMc of the 10-bit RGB, as JPEG AI's VM",
            sets=("jpegai",),
            unavailable_reason=scipy,
            implementation="jpegai-eval (piq's fsim, filters cached per size)",
        ),
        Metric(
            "nlpd",
            False,
            "",
            y,
            vm.nlpd,
            "Normalised Laplacian pyramid distance of Y",
            sets=("jpegai",),
            implementation="jpegai-eval",
        ),
        *_hvs_and_vmaf(),
    ]


def _hvs_and_vmaf() -> list[Metric]:
    """The VM suite's perceptual PSNRs and VMAF."""
    from jpegai_eval.framework.quality import vm_metrics as vm

    hvs = _missing(("psnr_hvsm", "psnr-hvsm"))
    y = vm_convention("Y")
    return [
        Metric(
            "psnr_hvs",
            True,
            "dB",
            y,
            vm.psnr_hvs,
            "PSNR-HVS of Y, as JPEG AI's VM",
            sets=("jpegai",),
            unavailable_reason=hvs,
            implementation="psnr-hvsm",
        ),
        Metric(
            "psnr_hvs_m",
            True,
            "dB",
            y,
            vm.psnr_hvs_m,
            "PSNR-HVS-M of Y",
            sets=("jpegai",),
            unavailable_reason=hvs,
            implementation="psnr-hvsm",
        ),
        Metric(
            "vmaf",
            True,
            "",
            vm_convention("YUV"),
            vm.vmaf,
            "VMAF (vmaf_v0.6.1) of the 10-bit YUV 4:4:4 planes, by ffmpeg's libvmaf",
            sets=("jpegai",),
            unavailable_reason=vm.vmaf_unavailable_reason(),
            implementation="ffmpeg libvmaf (imageio-ffmpeg)",
            min_side=vm.VMAF_MIN_SIDE,
        ),
    ]
