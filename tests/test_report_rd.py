"""The report's RD section: one panel per fidelity metric and the BD-rate tables, on a
run folder with two codecs at four qualities (built here), in the HTML and in a real
headless browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jpegai_eval.reports.html import HtmlReportWriter, build_report
from tests.test_report_bd_metrics import frames


@pytest.fixture
def run_dir(tmp_path) -> Path:
    results, per_image = frames()
    results.loc[results["codec"] == "hyperprior-msssim", "codec"] = "hyper<b>prior"
    per_image.loc[per_image["codec"] == "hyperprior-msssim", "codec"] = "hyper<b>prior"
    results.to_csv(tmp_path / "results.csv", index=False)
    per_image.to_csv(tmp_path / "per_image.csv", index=False)
    (tmp_path / "run.json").write_text(json.dumps({"config": {"codecs": ["jpeg"]}}))
    return tmp_path


def test_rd_section_has_a_panel_per_metric_and_the_bd_tables(run_dir):
    html = build_report(run_dir)
    section = html[html.index('<section id="rd">') :]
    section = section[: section.index("</section>")]
    assert '<svg id="rd-panels"' in section
    assert 'href="#rd"' in html
    # The BD-rate table: one row per codec other than the reference, one column per metric.
    bd = section[section.index('id="table-bd-metrics"') :]
    assert "<th>psnr</th><th>nlpd</th>" in bd
    assert "hyper&lt;b&gt;prior/compressai" in bd and "hyper<b>prior" not in section
    assert "−30" in bd or "-30" in bd  # 30% fewer bits (rounded, signed)
    task = section[section.index('id="table-task-bd"') :]
    assert "anchor1" in task and " … " in task
    assert "Reference: jpeg/pillow" in section


@pytest.mark.slow
def test_rd_panels_render_wide_and_tables_fit_the_page(run_dir, tmp_path):
    from tests.browser import load_page
    from tests.test_report_html import PROBE

    [page] = HtmlReportWriter().write(run_dir, tmp_path / "out")
    report = load_page(page.resolve().as_uri(), tmp_path / "rd.png", PROBE)
    assert report.console_errors == []
    probe = report.probe
    plots = {p["id"]: p for p in probe["plots"]}
    assert plots["rd-panels"]["box"]["w"] >= 600 and plots["rd-panels"]["paths"] > 50
    tables = {t["id"]: t for t in probe["tables"]}
    assert tables["table-bd-metrics"]["rows"] == 2
    assert tables["table-task-bd"]["rows"] == 2
    for table in tables.values():
        assert table["box"]["x"] + table["box"]["w"] <= probe["width"], (table["id"], tables)
    assert probe["width"] <= 1366
