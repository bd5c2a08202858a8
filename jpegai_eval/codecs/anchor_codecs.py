"""JPEG AI's conventional anchors beyond JPEG and JPEG 2000, from PyPI wheels only.

- ``hevc`` (backend ``pillow-heif``): HEVC intra in a HEIF file, encoded by x265
  (preset medium) and decoded by libde265 through libheif (the ``pillow-heif`` wheel),
  4:4:4 chroma. libheif maps its quality onto a whole x265 QP, so the rate moves in
  QP steps (about 10-40 % on the demo's small, noisy textures): some targets cannot
  be met within ±10 % on every image;
- ``avif`` (backend ``pillow``): AV1 intra in an AVIF file, encoded by libaom (Pillow's
  own AVIF plugin, libavif), 4:4:4 chroma, speed 6;
- ``jpegxl`` (backend ``pillow-jxl``): JPEG XL (libjxl, through the
  ``pillow-jxl-plugin`` wheel), VarDCT, effort 7.

Each is a :class:`~jpegai_eval.codecs.pillow_codecs.PillowCodec`: the payload of the
``.jai`` file is the format's own file (so its container counts towards the rate), the
eight qualities are a ladder of the encoder's quality, and the encoder's quality is
also a continuous rate parameter that ``run --target-bpp`` searches per image. The
settings are fixed here and written, with the library versions, into each codec's
description (``jpegai-eval plugins --json``, ``codec info``, ``run.json``). None needs
a compiler or a system package. VVC intra has no such wheel: see
:mod:`jpegai_eval.codecs.vvc`.
"""

from __future__ import annotations

from jpegai_eval.codecs.pillow_codecs import (
    PILLOW_ANCHORS,
    PillowCodec,
    float_quality,
    whole_quality,
)
from jpegai_eval.framework.api.types import RateParameter

#: The encoder quality behind ``--qualities 1..8`` (low to high rate), shared by HEVC,
#: AVIF and JPEG XL: each gives a rising rate on the demo images (tests check it).
LADDER = (10, 25, 40, 50, 60, 70, 80, 90)


def _heif_libraries() -> dict[str, str]:
    from importlib.metadata import version

    import pillow_heif

    info = pillow_heif.libheif_info()
    return {
        "pillow-heif": version("pillow-heif"),
        "libheif": str(info.get("libheif", "")),
        "encoder": str(info.get("encoders", {}).get("x265", info.get("HEIF", ""))),
        "decoder": str(next(iter(info.get("decoders", {}).values()), "")),
    }


def _avif_libraries() -> dict[str, str]:
    from PIL import _avif, features

    # e.g. "dav1d [dec]:1.5.3-0-gb546257, aom [enc]:3.14.1"
    return {"libavif": str(features.version("avif")), "codecs": str(_avif.codec_versions())}


def _jxl_libraries() -> dict[str, str]:
    from importlib.metadata import version

    return {"pillow-jxl-plugin": version("pillow-jxl-plugin"), "libjxl": "bundled with it"}


HEVC = PillowCodec(
    "hevc",
    "HEIF",
    tuple({"quality": q} for q in LADDER),
    "HEVC intra (x265 via libheif, HEIF file, 4:4:4), quality 10..90; pixel domain only",
    backend="pillow-heif",
    requires="pillow_heif",
    # x265's own default preset (libheif's is "slow": twice the time for a few % of rate)
    base={"chroma": 444, "enc_params": {"preset": "medium"}},
    # libheif maps its quality 0..100 onto x265's CRF (about 51 - 0.51 quality).
    parameter=RateParameter("quality", 0, 100, integer=True),
    parameter_options=whole_quality,
    libraries=_heif_libraries,
    # HEVC level 6.2's largest picture side, sqrt(8 x 35,651,584 luma samples).
    max_side=16888,
)
AVIF = PillowCodec(
    "avif",
    "AVIF",
    tuple({"quality": q} for q in LADDER),
    "AVIF (AV1 intra, libaom via libavif in Pillow, 4:4:4, speed 6), quality 10..90; "
    "pixel domain only",
    feature="avif",
    base={"subsampling": "4:4:4", "speed": 6, "codec": "aom", "max_threads": 1},
    parameter=RateParameter("quality", 0, 100, integer=True),
    parameter_options=whole_quality,
    libraries=_avif_libraries,
    # libavif's default image dimension limit (its decoder refuses larger sides).
    max_side=32768,
)
JPEGXL = PillowCodec(
    "jpegxl",
    "JXL",
    tuple({"quality": q} for q in LADDER),
    "JPEG XL (libjxl VarDCT via pillow-jxl-plugin, effort 7), quality 10..90; pixel domain only",
    backend="pillow-jxl",
    requires="pillow_jxl",
    base={"effort": 7, "num_threads": 1},
    # libjxl's quality (mapped to its butteraugli distance) is continuous; 100 is lossless.
    parameter=RateParameter("quality", 0, 99.5),
    parameter_options=float_quality,
    libraries=_jxl_libraries,
    # JPEG XL's level 5 limit on each side, 2^18.
    max_side=262144,
)

ANCHOR_CODECS = (*PILLOW_ANCHORS, HEVC, AVIF, JPEGXL)
