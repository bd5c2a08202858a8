"""Rate-distortion of JPEG AI's conventional anchors and the demo codec, with BD-rates
against JPEG.

Encodes every test image of a dataset at the eight qualities of each codec (through
the ``.jai`` container, whose 67-byte header every codec pays), decodes, and prints a
Markdown table of mean bpp, PSNR-RGB and MS-SSIM per codec and quality, then each
codec's Bjøntegaard rate difference against JPEG (4:2:0) over the common range
(piecewise cubic, as ``benchmarks/demo_codec_rd.py``): on PSNR and on MS-SSIM in dB
(``-10 log10(1 - MS-SSIM)``); negative = fewer bits than JPEG for the same quality.

    jpegai-eval data demo /tmp/demo
    python benchmarks/anchors_rd.py --data /tmp/demo [--json rd.json]

A folder may be a MINC-2500 layout root (its test1.txt split is read) or a folder of
images. Codecs that are unavailable here (VVC without its tools) are left out, said.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_codec_rd import bd_rates, rd_points  # noqa: E402

#: (codec, weights): the conventional anchors, then the demo codec.
CODECS = (
    ("jpeg", None),
    ("jpeg-444", None),
    ("jpeg2000", None),
    ("hevc", None),
    ("avif", None),
    ("jpegxl", None),
    ("vvc", None),
    ("hyperprior-msssim", "demo"),
)


def main(argv: list[str] | None = None) -> int:
    from jpegai_eval.codecs.cli import resolve_codec
    from jpegai_eval.codecs.training import dataset_images
    from jpegai_eval.framework.errors import UserError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset root or folder")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--every", type=int, default=1, help="take every N-th test image (default: all)"
    )
    args = parser.parse_args(argv)
    paths = dataset_images(args.data, "test")[:: args.every]
    curves: dict[str, list[dict]] = {}
    for codec_id, weights in CODECS:
        try:
            resolve_codec(codec_id, None)
        except UserError as exc:  # unavailable here (VVC without its tools)
            print(f"skipped {codec_id}: {exc.message}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        curves[codec_id] = rd_points(codec_id, weights, paths)
        print(f"{codec_id}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    bd = {name: bd_rates(curves["jpeg"], curve) for name, curve in curves.items()}
    print(f"\n{len(paths)} test images of {args.data}\n")
    print("| codec | q | bpp | PSNR-RGB dB | MS-SSIM |")
    print("|---|---|---|---|---|")
    for name, curve in curves.items():
        for r in curve:
            print(
                f"| {name} | {r['quality']} | {r['bpp']:.3f} | {r['psnr']:.2f} | "
                f"{r['ms_ssim']:.4f} |"
            )
    print("\n| codec | BD-rate vs JPEG, PSNR | BD-rate vs JPEG, MS-SSIM (dB) |")
    print("|---|---|---|")
    for name, value in bd.items():
        cells = [
            "n/a" if math.isnan(value[k]) else f"{value[k]:+.1f}%" for k in ("psnr", "ms_ssim")
        ]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    if args.json:
        args.json.write_text(json.dumps({"images": len(paths), "rd": curves, "bd_vs_jpeg": bd}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
