"""The embedded default tells the study's story: ``make demo``'s run, asserted.

This runs exactly what ``make demo`` runs (the demo dataset, the shipped demo codec
weights at qualities 1, 4, 8, the quick preset and its texture stand-in, seed 0) and
checks the paper's Table 2 qualitatively (issue 14's goal 2, where the demo reaches it),
so that a regression in training, in the presets or in the shipped weights fails CI. It
takes minutes: slow.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _top1(rows, anchor, quality=None):
    for r in rows:
        if r["anchor"] == anchor and (quality is None or r["quality"] == str(quality)):
            return 100 * float(r["top1"])
    raise AssertionError(f"no {anchor} q{quality} row")


def test_make_demo_reproduces_table_2_qualitatively(tmp_path):
    env = dict(os.environ, JPEGAI_EVAL_CACHE=str(tmp_path / "cache"))
    out = tmp_path / "demo"
    cmd = [
        sys.executable,
        "-m",
        "jpegai_eval",
        "run",
        "--codec",
        "hyperprior-msssim",
        "--task",
        "minc",
        "--dataset",
        "demo",
        "--weights",
        "demo",
        "--preset",
        "quick",
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    a3 = _top1(rows, "anchor3")
    a1 = {q: _top1(rows, "anchor1", q) for q in (1, 4, 8)}
    a2 = {q: _top1(rows, "anchor2", q) for q in (1, 4, 8)}
    cd = {q: _top1(rows, "compressed", q) for q in (1, 4, 8)}
    table = f"anchor3 {a3:.1f}; anchor1 {a1}; anchor2 {a2}; compressed {cd}"
    # Issue 14's goal 2 (docs/demo.md has the measured table; 1 test image = 0.72
    # points). Another CPU may round differently and move a few test images; the
    # measured margins are 4 points or more on every assertion.
    assert a1[1] < a1[4] < a1[8], table  # anchor 1 rises with the quality
    assert a1[1] <= a3 - 10, table  # q1's artefacts cost the original classifier
    assert a2[1] >= a1[1] + 5, table  # retraining on decoded images recovers
    assert a2[1] < a2[8], table  # and still loses information at q1
    # The compressed domain (cResNet-39 from the stand-in's latent half) stays within
    # 15 points of anchor 2 at every quality, as in the paper's Table 2.
    assert all(cd[q] >= a2[q] - 15 for q in (1, 4, 8)), table
    # Originals: the shipped demo measures 89.1.
    assert a3 >= 85, table
    init = json.loads((out / "run.json").read_text())["classifier_init"]
    assert "texture-standin-resnet50" in init and "texture-standin-cresnet39" in init, init
    for r in rows:  # every accuracy carries its interval
        if r["top1"]:
            assert float(r["top1_ci95_low"]) <= float(r["top1"]) <= float(r["top1_ci95_high"])


def test_demo_codec_ladder_beats_jpeg_on_the_demo_test_split(tmp_path):
    """Goal 1 on the demo test split: PSNR and MS-SSIM rise strictly from q1 to q8, and
    the MS-SSIM BD-rate against Pillow's JPEG is at most -10% (bpp of whole .jai files;
    measured: -20% against JPEG with optimised Huffman tables, -41% before them). The
    photographs cannot ship; docs/demo.md has their table."""
    import math
    import warnings

    import bjontegaard

    from jpegai_eval.codecs.cli import load_model, resolve_codec
    from jpegai_eval.codecs.training import dataset_images
    from jpegai_eval.framework.quality.metrics import evaluate_images
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path / "demo"
    write_demo_dataset(root)
    paths = dataset_images(root, "test")
    curves = {}
    for codec_id in ("hyperprior-msssim", "jpeg"):
        codec = resolve_codec(codec_id)
        rows = [
            evaluate_images(load_model(codec, q, None, None, "cpu"), paths) for q in range(1, 9)
        ]
        curves[codec_id] = rows
    ours = curves["hyperprior-msssim"]
    psnr = [r["psnr"] for r in ours]
    msssim = [r["ms_ssim"] for r in ours]
    assert all(b > a for a, b in zip(psnr, psnr[1:], strict=False)), psnr
    assert all(b > a for a, b in zip(msssim, msssim[1:], strict=False)), msssim

    def db(v):
        return -10 * math.log10(1 - v)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bd = bjontegaard.bd_rate(
            [r["bpp"] for r in curves["jpeg"]],
            [db(r["ms_ssim"]) for r in curves["jpeg"]],
            [r["bpp"] for r in ours],
            [db(r["ms_ssim"]) for r in ours],
            "pchip",
            require_matching_points=False,
            min_overlap=0,
        )
    assert bd <= -10, f"MS-SSIM BD-rate vs JPEG {bd:.1f}%"
