"""Rate-distortion of a learned codec's demo weights against Pillow's JPEG, with BD-rates.

For each image folder given, encodes every image at every quality of both codecs
(through the project's ``.jai`` container, so both pay the same 67-byte header),
decodes, and prints one Markdown table per folder -- mean bpp, PSNR, MS-SSIM per
quality -- and the Bjøntegaard deltas over the common range (piecewise cubic, the
``bjontegaard`` package that ``reports/bd.py`` uses): BD-rate on PSNR and on MS-SSIM in
dB (``-10 log10(1 - MS-SSIM)``), negative = fewer bits than JPEG for the same quality.

    python benchmarks/demo_codec_rd.py --data demo:/tmp/demo/test \
        --data photos:/tmp/photos/test [--codec mbt2018-mean] [--weights demo] [--json out.json]

A folder may be a MINC-2500 layout root (its test1.txt split is read) or a folder of
images. Checks of issue 14 are printed as lines ``check ... ok|MISSED``: PSNR and
MS-SSIM strictly increase from the lowest to the highest quality, MS-SSIM BD-rate
against JPEG <= -10%, and (with ``--photos NAME``) q8 at least 6 dB above q1 in PSNR.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

CODEC = "hyperprior-msssim"
QUALITIES = tuple(range(1, 9))


def msssim_db(value: float) -> float:
    return -10 * math.log10(max(1 - value, 1e-12))


def rd_points(codec_id: str, weights: str | None, paths: list[Path]) -> list[dict]:
    from jpegai_eval.codecs.cli import load_model, resolve_codec
    from jpegai_eval.framework.quality.metrics import evaluate_images

    codec = resolve_codec(codec_id, None)
    rows = []
    for q in QUALITIES:
        model = load_model(codec, q, weights, None, "cpu")
        summary = evaluate_images(model, paths)
        rows.append({"quality": q, **summary})
    return rows


def bd_rates(ref: list[dict], test: list[dict]) -> dict[str, float]:
    """BD-rate of ``test`` against ``ref`` per metric; NaN where a curve's quality does
    not rise strictly with the rate (the interpolation needs it)."""
    import bjontegaard

    out = {}
    for key, f in (("psnr", float), ("ms_ssim", msssim_db)):
        if not all(increasing([f(r[key]) for r in c]) for c in (ref, test)):
            out[key] = math.nan
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[key] = float(
                bjontegaard.bd_rate(
                    [r["bpp"] for r in ref],
                    [f(r[key]) for r in ref],
                    [r["bpp"] for r in test],
                    [f(r[key]) for r in test],
                    "pchip",
                    require_matching_points=False,
                    min_overlap=0,
                )
            )
    return out


def increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))


def main(argv: list[str] | None = None) -> int:
    from jpegai_eval.codecs.training import dataset_images

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True, metavar="NAME:FOLDER")
    parser.add_argument("--codec", default=CODEC, help=f"learned codec (default: {CODEC})")
    parser.add_argument("--weights", default=None, help="its weights (default: demo)")
    parser.add_argument("--photos", default=None, help="NAME of the photographs' folder")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report: dict[str, object] = {}
    missed = 0
    for spec in args.data:
        name, _, folder = spec.partition(":")
        paths = dataset_images(Path(folder), "test")
        t0 = time.perf_counter()
        ours = rd_points(args.codec, args.weights or "demo", paths)
        jpeg = rd_points("jpeg", None, paths)
        seconds = time.perf_counter() - t0
        bd = bd_rates(jpeg, ours)
        report[name] = {"images": len(paths), args.codec: ours, "jpeg": jpeg, "bd_rate_vs_jpeg": bd}
        print(f"\n### {name}: {len(paths)} images ({seconds:.0f} s)\n")
        print("| q | bpp | PSNR dB | MS-SSIM | JPEG bpp | JPEG PSNR | JPEG MS-SSIM |")
        print("|---|---|---|---|---|---|---|")
        for a, b in zip(ours, jpeg, strict=True):
            print(
                f"| {a['quality']} | {a['bpp']:.3f} | {a['psnr']:.2f} | {a['ms_ssim']:.4f} | "
                f"{b['bpp']:.3f} | {b['psnr']:.2f} | {b['ms_ssim']:.4f} |"
            )
        print(f"\nBD-rate vs JPEG: PSNR {bd['psnr']:+.1f}%, MS-SSIM (dB) {bd['ms_ssim']:+.1f}%\n")
        checks = [
            ("PSNR strictly increases q1..q8", increasing([r["psnr"] for r in ours])),
            ("MS-SSIM strictly increases q1..q8", increasing([r["ms_ssim"] for r in ours])),
            ("MS-SSIM BD-rate vs JPEG <= -10%", bool(bd["ms_ssim"] <= -10)),
        ]
        if name == args.photos:
            gain = ours[-1]["psnr"] - ours[0]["psnr"]
            checks.append((f"q8 - q1 PSNR >= 6 dB (got {gain:.2f})", gain >= 6))
        for label, ok in checks:
            missed += not ok
            print(f"check {name}: {label}: {'ok' if ok else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
