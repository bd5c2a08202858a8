"""bd_metrics.csv: BD-rate per codec and metric against the anchor codec, and the task
BD-rate at equal Top-1 with its paired bootstrap interval, on a run folder built here
whose answers are known: the second codec reaches every quality with 30% fewer bits."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from jpegai_eval.reports.bd import Curve, bd_rate
from jpegai_eval.reports.bd_metrics import BdMetricsWriter, bd_metrics, choose_anchor

QUALITIES = [1, 2, 3, 4]
N = 60
CLASSES = ["a", "b"]


def frames(seed: int = 0):
    rng = np.random.default_rng(seed)
    per_image, results = [], []
    scale = {("jpeg", "pillow"): 1.0, ("hyperprior-msssim", "compressai"): 0.7}
    for (codec, backend), factor in scale.items():
        for q in QUALITIES:
            base = 0.25 * q * (1 + 0.2 * rng.random(N))  # bpp of the reference codec
            bpp = base * factor
            quality_bpp = base  # quality as a function of the reference-codec bpp
            p_correct = 0.3 + 0.15 * q
            correct = rng.random(N) < p_correct
            labels = [CLASSES[i % 2] for i in range(N)]
            preds = [
                lab if ok else CLASSES[1 - CLASSES.index(lab)]
                for lab, ok in zip(labels, correct, strict=True)
            ]
            for i in range(N):
                per_image.append(
                    {
                        "image_id": f"img{i:03d}",
                        "label": labels[i],
                        "codec": codec,
                        "backend": backend,
                        "quality": q,
                        "bpp": bpp[i],
                        "pred_anchor1": preds[i],
                    }
                )
            mean_q = float(np.mean(quality_bpp))
            results.append(
                {
                    "codec": codec,
                    "backend": backend,
                    "quality": q,
                    "anchor": "anchor1",
                    "bpp": float(np.mean(bpp)),
                    "psnr": 30 + 10 * math.log10(mean_q),
                    "nlpd": 0.5 / mean_q,
                    "top1": float(np.mean(correct)),
                    "top5": 1.0,
                }
            )
    results.append(
        {
            "codec": "original",
            "backend": "",
            "quality": None,
            "anchor": "anchor3",
            "top1": 0.9,
            "top5": 1.0,
        }
    )
    return pd.DataFrame(results), pd.DataFrame(per_image)


def test_bd_rate_per_metric_against_the_anchor_codec():
    results, per_image = frames()
    table = bd_metrics(results, per_image)
    assert list(table["codec"]) == ["hyperprior-msssim/compressai"]
    row = table.iloc[0]
    assert row["reference"] == "jpeg/pillow"  # the default anchor codec
    # Same quality with 30% fewer bits: BD-rate -30% on a rising and on a falling metric.
    assert row["psnr"] == pytest.approx(-30.0, abs=0.5)
    assert row["nlpd"] == pytest.approx(-30.0, abs=0.5)
    assert list(table.columns[:4]) == ["codec", "reference", "psnr", "nlpd"]


def test_task_bd_rate_and_its_bootstrap_interval():
    results, per_image = frames()
    row = bd_metrics(results, per_image).iloc[0]
    point = row["task_top1_anchor1"]
    # The point is the BD-rate of the two mean curves (bpp, Top-1 over all images).
    curves = {}
    for codec, group in per_image.groupby("codec"):
        g = group.groupby("quality")
        correct = (group["pred_anchor1"] == group["label"]).groupby(group["quality"]).mean()
        curves[codec] = Curve(list(g["bpp"].mean()), list(correct))
    expected, _ = bd_rate(curves["jpeg"], curves["hyperprior-msssim"])
    assert point == pytest.approx(expected)
    low, high = row["task_top1_anchor1_ci95_low"], row["task_top1_anchor1_ci95_high"]
    assert low < point < high and high - low > 1.0
    # Reproducible: the bootstrap is seeded.
    again = bd_metrics(results, per_image).iloc[0]
    assert (again["task_top1_anchor1_ci95_low"], again["task_top1_anchor1_ci95_high"]) == (
        low,
        high,
    )


def test_anchor_codec_choice_and_notes():
    assert choose_anchor(["webp/pillow", "jpeg/pillow"], None) == "jpeg/pillow"
    assert choose_anchor(["webp/pillow", "jpeg/pillow"], "webp") == "webp/pillow"
    assert choose_anchor(["webp/pillow"], None) == "webp/pillow"
    results, per_image = frames()
    three = results[results["quality"] != 4]
    row = bd_metrics(three, per_image[per_image["quality"] != 4]).iloc[0]
    assert math.isnan(row["psnr"]) and "Bjøntegaard needs 4" in row["note"]


def test_writer_reads_the_bd_anchor_from_run_json(tmp_path):
    results, per_image = frames()
    results.to_csv(tmp_path / "results.csv", index=False)
    per_image.to_csv(tmp_path / "per_image.csv", index=False)
    (tmp_path / "run.json").write_text(json.dumps({"config": {"bd_anchor": "hyperprior-msssim"}}))
    [path] = BdMetricsWriter().write(tmp_path, tmp_path / "out")
    table = pd.read_csv(path)
    assert list(table["codec"]) == ["jpeg/pillow"]
    assert table.iloc[0]["psnr"] == pytest.approx(100 * (1 / 0.7 - 1), abs=0.7)


def test_report_rerenders_the_bd_tables_against_another_anchor(tmp_path):
    """`report --bd-anchor CODEC` takes the BD-rates against CODEC without touching the
    run: the run's anchor is jpeg (its default), the report's hyperprior-msssim."""
    from click.testing import CliRunner

    from jpegai_eval.cli import cli
    from tests.test_bad_inputs import assert_clean_error

    results, per_image = frames()
    results.to_csv(tmp_path / "results.csv", index=False)
    per_image.to_csv(tmp_path / "per_image.csv", index=False)
    (tmp_path / "run.json").write_text(json.dumps({"config": {"codecs": ["jpeg"]}}))
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out"
    args = ["report", str(tmp_path), "--format", "bd-metrics,html", "--out", str(out)]

    result = CliRunner().invoke(cli, [*args, "--bd-anchor", "hyperprior-msssim"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "bd_metrics.csv")
    assert list(table["codec"]) == ["jpeg/pillow"]
    assert table.iloc[0]["reference"] == "hyperprior-msssim/compressai"
    assert table.iloc[0]["psnr"] == pytest.approx(100 * (1 / 0.7 - 1), abs=0.7)
    assert "Reference: hyperprior-msssim/compressai" in (out / "report.html").read_text()
    # Without the option: the run's own anchor, jpeg.
    assert CliRunner().invoke(cli, args).exit_code == 0
    table = pd.read_csv(out / "bd_metrics.csv")
    assert list(table["codec"]) == ["hyperprior-msssim/compressai"]
    assert table.iloc[0]["psnr"] == pytest.approx(-30, abs=0.7)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "out"])

    # An anchor the run does not have: one paragraph naming the codecs it has, no file.
    bad = tmp_path / "bad"
    args[-1] = str(bad)
    result = CliRunner().invoke(cli, [*args, "--bd-anchor", "webp"])
    assert_clean_error(result, 2, "'webp'", "hyperprior-msssim/compressai, jpeg/pillow")
    assert not bad.exists()
