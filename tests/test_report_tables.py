"""CSV tables and the `report` command on small hand-made result files."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from jpegai_eval.cli import cli
from jpegai_eval.framework.run.runfolder import RunFolder
from jpegai_eval.reports import tables


def _results() -> pd.DataFrame:
    rows = [
        {
            "codec": "original",
            "backend": None,
            "quality": None,
            "anchor": "anchor3",
            "domain": "pixel",
            "top1": 0.80,
            "top5": 0.97,
            "infer_ms_per_image": 40.0,
            "params": 23.5e6,
            "macs": 4.1e9,
        }
    ]
    for q, bpp in ((1, 0.1), (4, 0.3), (8, 0.9)):
        for anchor, domain, top1 in (
            ("anchor1", "pixel", 0.5 + q / 100),
            ("anchor2", "pixel", 0.7 + q / 100),
            ("compressed", "latent", 0.6 + q / 100),
        ):
            rows.append(
                {
                    "codec": "hyperprior-msssim",
                    "backend": "compressai",
                    "quality": q,
                    "anchor": anchor,
                    "domain": domain,
                    "bpp": bpp,
                    "psnr": 25 + q,
                    "ssim": 0.8 + q / 100,
                    "ms_ssim": 0.9,
                    "top1": top1,
                    "top5": top1 + 0.2,
                    "infer_ms_per_image": 40.0 if domain == "pixel" else 30.0,
                    "decode_ms_per_image": 180.0,
                    "latents_ms_per_image": 30.0,
                    "params": 23.5e6 if domain == "pixel" else 20e6,
                    "macs": 4.1e9,
                }
            )
    for q in (1, 4, 8):
        rows.append(
            {
                "codec": "jpeg",
                "backend": "pillow",
                "quality": q,
                "anchor": "anchor1",
                "domain": "pixel",
                "bpp": q / 4,
                "top1": 0.4,
                "top5": 0.9,
            }
        )
    return pd.DataFrame(rows)


def _per_image() -> pd.DataFrame:
    rows = []
    for codec, backend in (("hyperprior-msssim", "compressai"), ("jpeg", "pillow")):
        for q in (1, 8):
            for image, label in (
                ("a/x1.jpg", "brick"),
                ("a/x2.jpg", "brick"),
                ("b/y1.jpg", "wood"),
            ):
                rows.append(
                    {
                        "image_id": image,
                        "split": "test",
                        "label": label,
                        "codec": codec,
                        "backend": backend,
                        "quality": q,
                        "pred_anchor3": "brick",  # same in every row: counted once per image
                        "pred_anchor1": label if (q == 8 or image == "b/y1.jpg") else "wood",
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    _results().to_csv(folder / "results.csv", index=False)
    _per_image().to_csv(folder / "per_image.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"config": {"codecs": ["x"], "task": "minc"}}))
    return folder


def test_table2_layout_rows_anchors_columns_codec_by_quality(run_dir):
    results = tables.read_results(run_dir)
    top1 = tables.table(results, "top1")
    assert list(top1.index) == ["anchor3", "anchor1", "anchor2", "compressed"]
    assert list(top1.columns) == [
        "hyperprior-msssim/compressai q1",
        "hyperprior-msssim/compressai q4",
        "hyperprior-msssim/compressai q8",
        "jpeg/pillow q1",
        "jpeg/pillow q4",
        "jpeg/pillow q8",
    ]
    assert top1.loc["anchor2", "hyperprior-msssim/compressai q4"] == pytest.approx(74.0)
    assert list(top1.loc["anchor3"]) == pytest.approx([80.0] * 6)  # one value, every column
    assert math.isnan(top1.loc["compressed", "jpeg/pillow q1"])  # jpeg has no latents
    assert tables.table(results, "top5").loc["anchor1", "jpeg/pillow q8"] == pytest.approx(90.0)


def test_rate_accuracy_points(run_dir):
    points = tables.rate_accuracy(tables.read_results(run_dir))
    assert list(points.columns) == tables.RATE_ACCURACY_COLUMNS
    assert len(points) == 9 + 3  # no anchor3 row: it has no rate
    row = points[(points["anchor"] == "compressed") & (points["quality"] == 8)].iloc[0]
    assert (row["bpp"], row["psnr"], row["top1"]) == pytest.approx((0.9, 33, 0.68))


def test_per_class_accuracy_counts_each_image_once_for_anchor3():
    long = tables.per_class_accuracy(_per_image(), {"anchor3"})
    a3 = long[long["anchor"] == "anchor3"].set_index("class")
    assert a3.loc["brick", "n"] == 2 and a3.loc["brick", "top1"] == 1.0
    assert a3.loc["wood", "n"] == 1 and a3.loc["wood", "top1"] == 0.0
    a1 = long[(long["anchor"] == "anchor1") & (long["codec"] == "jpeg")]
    q1 = a1[a1["quality"] == 1].set_index("class")
    q8 = a1[a1["quality"] == 8].set_index("class")
    assert q1.loc["brick", "top1"] == 0.0 and q1.loc["wood", "top1"] == 1.0
    assert q8.loc["brick", "top1"] == 1.0


def test_inference_cost_adds_the_right_front_end(run_dir):
    cost = tables.inference_cost(tables.read_results(run_dir)).set_index(
        ["anchor", "quality"], drop=False
    )
    pixel = cost[(cost["anchor"] == "anchor2") & (cost["quality"] == 1)].iloc[0]
    latent = cost[(cost["anchor"] == "compressed") & (cost["quality"] == 1)].iloc[0]
    original = cost[cost["anchor"] == "anchor3"].iloc[0]
    assert (pixel["pipeline"], pixel["total_ms_per_image"]) == ("pixel", 220.0)
    assert (latent["pipeline"], latent["total_ms_per_image"]) == ("compressed", 60.0)
    assert math.isnan(latent["decode_ms_per_image"])  # g_s never runs on that path
    assert (original["pipeline"], original["total_ms_per_image"]) == ("original", 40.0)


def test_report_command_csv_only(run_dir, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", str(run_dir), "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    # the writers' outputs and the record of them (for removing stale ones later)
    assert written == sorted([*tables.CsvTablesWriter.outputs, RunFolder.REPORT_OUTPUTS])
    assert "report.html" not in written
    table = pd.read_csv(out / "table_top1.csv", index_col="anchor")
    assert table.loc["anchor1", "jpeg/pillow q4"] == pytest.approx(40.0)
    bd = pd.read_csv(out / "bd_summary.csv")
    assert bd.empty  # three qualities only: no Bjøntegaard summary


def test_report_command_errors_name_the_problem(run_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(run_dir), "--format", "pdf"])
    assert result.exit_code == 2
    assert "'pdf'" in result.output and "csv" in result.output and "html" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["report", str(tmp_path / "nothing")])
    assert result.exit_code != 0 and "results.csv" in result.output


def test_report_modules_do_not_import_torch():
    code = (
        "import sys, jpegai_eval.reports.cli, jpegai_eval.reports.html, "
        "jpegai_eval.reports.tables, jpegai_eval.reports.bd, jpegai_eval.reports.plots; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_html_shows_bjontegaard_summaries_when_a_codec_has_four_qualities(tmp_path):
    from jpegai_eval.reports.html import build_report

    rows = [
        {
            "codec": "original",
            "backend": "",
            "quality": None,
            "anchor": "anchor3",
            "top1": 0.8,
            "top5": 0.95,
        }
    ]
    for q in (1, 2, 3, 4):
        for anchor, gain in (("anchor1", 0.0), ("anchor2", 0.04)):
            rows.append(
                {
                    "codec": "jpeg",
                    "backend": "pillow",
                    "quality": q,
                    "anchor": anchor,
                    "bpp": 0.25 * q,
                    "psnr": 25 + q,
                    "ssim": 0.7 + q / 20,
                    "top1": 0.4 + 0.1 * q + gain,
                    "top5": 0.6 + 0.05 * q + gain,
                }
            )
    folder = tmp_path / "run"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    html = build_report(folder)
    assert 'id="table-bd"' in html and 'id="bd-none"' not in html
    assert "+4.00" in html  # anchor2 is 4 points above anchor1 everywhere
    assert html.count('<svg id="fig3-') == 3


def test_results_csv_rows_carry_wilson_intervals():
    from jpegai_eval.framework.run.results import with_intervals

    row = with_intervals({"top1": 0.5, "top5": 1.0, "n_test": 10})
    assert row["top1_ci95_low"] == pytest.approx(0.2366, abs=1e-4)
    assert row["top1_ci95_high"] == pytest.approx(0.7634, abs=1e-4)
    assert row["top5_ci95_high"] == 1.0 and row["top5_ci95_low"] == pytest.approx(0.7225, abs=1e-4)
    assert with_intervals({"top1": float("nan"), "top5": 0.2, "n_test": 0})["top1_ci95_low"] is None


def test_interval_tables_and_paired_tests_are_written(run_dir, tmp_path):
    from jpegai_eval.framework.run.results import with_intervals

    results = pd.read_csv(run_dir / "results.csv")
    results["n_test"] = 3
    rows = [with_intervals(r) for r in results.to_dict("records")]
    pd.DataFrame(rows).to_csv(run_dir / "results.csv", index=False)
    out = tmp_path / "out"
    written = tables.CsvTablesWriter().write(run_dir, out)
    assert {p.name for p in written} == set(tables.CsvTablesWriter.outputs)
    ci = pd.read_csv(out / "table_top1_ci95.csv", index_col="anchor")
    low, high = (float(v) for v in ci.loc["anchor1", "jpeg/pillow q4"].strip("[]").split(","))
    assert low < 40.0 < high  # 0.4 of 3 images rounds to 1 of 3: [6.15, 79.23]
    assert (low, high) == pytest.approx((6.15, 79.23), abs=0.01)
    paired = pd.read_csv(out / "paired_tests.csv")
    # anchor3 vs anchor1 per codec x quality, on the 3 test images of per_image.csv
    q1 = paired[(paired["codec"] == "jpeg") & (paired["quality"] == 1)].iloc[0]
    assert (q1["a"], q1["b"], q1["n"]) == ("anchor3", "anchor1", 3)
    # anchor3 says brick everywhere: right on x1, x2; anchor1 at q1 right only on y1
    assert (q1["only_a_right"], q1["only_b_right"]) == (2, 1)
    points = pd.read_csv(out / "rate_accuracy.csv")
    assert {"top1_ci95_low", "top1_ci95_high", "n_test"} <= set(points.columns)
