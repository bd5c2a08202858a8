"""``--metrics`` on ``run``: computed in the encode workers for the test images, per
image into per_image.csv, averaged into results.csv; a rerun with more metrics adds
them to the cached entries without encoding again."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jpegai_eval.framework.api.metric_types import ImagePair
from jpegai_eval.framework.api.plugins import get_plugins, make_plugin_manager
from jpegai_eval.framework.errors import UnknownNameError
from jpegai_eval.framework.io.image_io import read_image
from jpegai_eval.framework.run.evaluator import run_study
from jpegai_eval.framework.run.plan import RunConfig, make_plan

JPEGAI_COLUMNS = [
    "psnr_y",
    "psnr_u",
    "psnr_v",
    "ms_ssim_y",
    "iw_ssim",
    "vif",
    "fsim",
    "nlpd",
    "psnr_hvs",
    "psnr_hvs_m",
    "vmaf",
]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """An ImageFolder of 2 classes x 2 textured images (56 x 80) per split."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(5)
    for split in ("train", "test"):
        for label in ("bark", "brick"):
            (root / split / label).mkdir(parents=True)
            for i in range(2):
                noise = gaussian_filter(rng.normal(0, 1, (56, 80, 3)), (2, 2, 0))
                image = np.clip(128 + 60 * noise / noise.std(), 0, 255).astype(np.uint8)
                Image.fromarray(image).save(root / split / label / f"{i}.png")
    return root


def config(root: Path, **overrides) -> RunConfig:
    values = dict(
        codecs=["jpeg"],
        task="imagefolder",
        task_options={"data_root": str(root)},
        qualities=[2],
        anchors=["anchor3", "anchor1"],
        preset="smoke",
        workers=1,
    )
    values.update(overrides)
    return RunConfig(**values)


def test_metrics_spec_is_checked_when_planning(tiny_folder):
    plugins = make_plugin_manager(load_external=False)
    assert make_plan(config(tiny_folder), plugins).metric_ids == [
        "psnr_rgb",
        "ms_ssim_rgb",
        "ssim_rgb",
        "psnr_y",
    ]
    with pytest.raises(UnknownNameError, match="Unknown metric: 'psnr_z'"):
        make_plan(config(tiny_folder, metrics="psnr_z"), plugins)
    # Not part of the fingerprint: more metrics never make a folder "another run".
    assert config(tiny_folder, metrics="all").fingerprint() == config(tiny_folder).fingerprint()


@pytest.mark.slow
def test_run_fills_per_image_and_results_and_a_rerun_adds_metrics(tiny_folder, tmp_path):
    out = tmp_path / "run"
    run_study(config(tiny_folder), out_dir=out)
    first = pd.read_csv(out / "per_image.csv")
    assert "psnr_y" in first and "vif" not in first
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.jai")}

    run_study(config(tiny_folder, metrics="jpegai"), out_dir=out)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing re-encoded
    per_image = pd.read_csv(out / "per_image.csv")
    results = pd.read_csv(out / "results.csv")
    assert len(per_image) == 4
    # Today's columns are still there, with the same values.
    for column in ("bpp", "psnr", "ms_ssim", "ssim"):
        assert per_image[column].equals(first[column]), column
    metric = get_plugins().metrics
    available = [c for c in JPEGAI_COLUMNS if not metric.get(c).unavailable_reason]
    for column in available:
        assert per_image[column].notna().all(), column
    coded = results[results["anchor"] == "anchor1"].iloc[0]
    original = results[results["anchor"] == "anchor3"].iloc[0]
    for column in available:
        assert coded[column] == pytest.approx(per_image[column].mean(), rel=1e-5), column
        assert math.isnan(original[column]), column
    # Each value is the metric of the cached decoded image against its original.
    row = per_image.iloc[0]
    pair = ImagePair(read_image(row["source"]), read_image(out / row["decoded"]))
    assert row["psnr_y"] == pytest.approx(metric.get("psnr_y")([pair])[0], abs=1e-4)
    assert row["nlpd"] == pytest.approx(metric.get("nlpd")([pair])[0], rel=1e-4)
    assert (per_image["metrics_ms"] > 0).all()
    assert np.all(per_image["psnr_y"] < 60)
