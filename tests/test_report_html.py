"""The HTML report on a real (small) run folder, and in a real headless browser."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from jpegai_eval.cli import cli

CODECS = ["hyperprior-msssim", "jpeg"]
QUALITIES = [1, 8]
HOSTILE = "<script>alert('x')</script>"


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> Path:
    """One finished run of the demo study (two codecs, two qualities), made once."""
    from jpegai_eval.framework.api.plugins import reset_plugins
    from jpegai_eval.framework.run.evaluator import run_study
    from jpegai_eval.framework.run.plan import RunConfig
    from jpegai_eval.tasks.demo import write_demo_dataset

    base = tmp_path_factory.mktemp("report-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JPEGAI_EVAL_CACHE", str(base / "cache"))
        mp.delenv("JPEGAI_EVAL_LOAD_PLUGINS", raising=False)
        reset_plugins()
        write_demo_dataset(base / "data", per_class=3, size=64, seed=3)
        run_study(
            RunConfig(
                codecs=CODECS,
                task="minc",
                task_options={"dataset": "minc", "data_root": str(base / "data")},
                qualities=QUALITIES,
                weights="demo",
                preset="smoke",
                workers=1,
            ),
            out_dir=base / "run",
        )
        reset_plugins()
    return base / "run"


@pytest.fixture(scope="session")
def report_dir(real_run, tmp_path_factory) -> Path:
    """`jpegai-eval report RUN --out DIR` on the real run."""
    out = tmp_path_factory.mktemp("report-out")
    result = CliRunner().invoke(cli, ["report", str(real_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


class Refs(HTMLParser):
    """Collects every URL-valued attribute and every tag name."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "poster", "data") and value:
                self.urls.append(value)


def test_run_writes_every_report(real_run):
    # The evaluator calls the registered writers at the end of the run.
    for name in (
        "table_top1.csv",
        "table_top5.csv",
        "rate_accuracy.csv",
        "bd_summary.csv",
        "report.html",
    ):
        assert (real_run / name).is_file(), name


def test_report_command_rebuilds_csv_and_html(real_run, report_dir):
    results = pd.read_csv(real_run / "results.csv")
    top1 = pd.read_csv(report_dir / "table_top1.csv", index_col="anchor")
    assert set(top1.index) == set(results["anchor"])
    assert list(top1.columns) == [
        f"{c}/{b} q{q}"
        for c, b in (("hyperprior-msssim", "compressai"), ("jpeg", "pillow"))
        for q in QUALITIES
    ]
    row = results[
        (results["anchor"] == "anchor2") & (results["codec"] == "jpeg") & (results["quality"] == 8)
    ].iloc[0]
    assert top1.loc["anchor2", "jpeg/pillow q8"] == pytest.approx(100 * row["top1"], abs=0.006)
    points = pd.read_csv(report_dir / "rate_accuracy.csv")
    assert len(points) == len(results) - 1  # every row but anchor 3's
    assert (report_dir / "report.html").stat().st_size > 10_000


def test_html_is_self_contained_and_has_every_section(real_run, report_dir):
    html = (report_dir / "report.html").read_text()
    refs = Refs()
    refs.feed(html)
    outside = [u for u in refs.urls if not u.startswith(("data:", "#"))]
    assert outside == []
    assert "script" not in refs.tags and "iframe" not in refs.tags
    assert "url(http" not in html and "@import" not in html
    for section in ("summary", "table2", "figure3", "figure2", "per-class", "cost"):
        assert f'id="{section}"' in html, section
    for plot in ("fig3-bpp", "fig3-psnr", "fig3-ssim", "fig-cost"):
        assert f'<svg id="{plot}"' in html, plot
    for axis in ("Rate (bits per pixel, bpp)", "PSNR (dB)", "SSIM (0..1)"):
        assert axis in html  # in figure captions (the SVG draws text as paths)
    # Figure 2: for each shown image, the original, every decoded image and the
    # hyperprior's y_hat and sigma_hat maps at each quality, all inline.
    per_image = 1 + len(CODECS) * len(QUALITIES) + 2 * len(QUALITIES)
    assert html.count('src="data:image/png;base64,') >= per_image
    assert html.count('alt="sigma_hat"') >= len(QUALITIES)
    info_codecs = ", ".join(CODECS)
    assert info_codecs in html and "smoke" in html and "CPUExecutionProvider" in html


def _hostile_copy(real_run: Path, target: Path) -> Path:
    """The real run, with markup in a class name, a codec id and a run note."""
    shutil.copytree(real_run, target, ignore=shutil.ignore_patterns("classifiers", "cells"))
    per_image = pd.read_csv(target / "per_image.csv")
    first = per_image["label"].iloc[0]
    for column in [c for c in per_image.columns if c == "label" or c.startswith("pred_")]:
        per_image[column] = per_image[column].replace(first, HOSTILE)
    per_image["codec"] = per_image["codec"].replace("jpeg", "jp<b>eg")
    per_image.to_csv(target / "per_image.csv", index=False)
    results = pd.read_csv(target / "results.csv")
    results["codec"] = results["codec"].replace("jpeg", "jp<b>eg")
    results.to_csv(target / "results.csv", index=False)
    import json

    info = json.loads((target / "run.json").read_text())
    info["notes"] = [*info.get("notes", []), f"note {HOSTILE}"]
    (target / "run.json").write_text(json.dumps(info))
    return target


def test_text_from_data_is_escaped(real_run, tmp_path):
    from jpegai_eval.reports.html import build_report

    html = build_report(_hostile_copy(real_run, tmp_path / "hostile"))
    assert HOSTILE not in html and "jp<b>eg" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "jp&lt;b&gt;eg" in html
    refs = Refs()
    refs.feed(html)
    assert "script" not in refs.tags and "b" not in refs.tags


# --------------------------------------------------------------------------- browser

PROBE = """(() => {
  const box = e => { const r = e.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}; };
  return {
    plots: [...document.querySelectorAll('svg.plot')].map(s =>
      ({id: s.id, box: box(s), paths: s.querySelectorAll('path').length})),
    tables: [...document.querySelectorAll('table')].map(t => ({id: t.id, box: box(t),
      rows: t.rows.length})),
    images: document.images.length,
    broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length,
    scripts: document.scripts.length,
    text: document.body.innerText,
    width: document.documentElement.scrollWidth,
  };
})()"""


def _not_white(image, box) -> float:
    """Fraction of non-white pixels of a screenshot region."""
    import numpy as np

    region = image.crop(
        (int(box["x"]), int(box["y"]), int(box["x"] + box["w"]), int(box["y"] + box["h"]))
    ).convert("L")
    pixels = np.asarray(region)
    return float((pixels < 235).mean()) if pixels.size else 0.0


def _check_page(report, allowed_prefix: str) -> None:
    assert report.console_errors == []
    leaving = [u for u in report.requests if not u.startswith((allowed_prefix, "data:"))]
    assert leaving == []


@pytest.mark.slow
def test_report_renders_in_a_real_browser(report_dir, real_run, tmp_path):
    from PIL import Image

    from tests.browser import load_page

    page = (report_dir / "report.html").resolve()
    shot_dir = Path(os.environ.get("JPEGAI_EVAL_SCREENSHOT_DIR", tmp_path))
    shot_dir.mkdir(parents=True, exist_ok=True)
    report = load_page(page.as_uri(), shot_dir / "report.png", PROBE)
    _check_page(report, page.as_uri())
    probe = report.probe
    assert probe["scripts"] == 0 and probe["broken"] == 0 and probe["images"] > 5
    assert probe["width"] <= 1366  # no horizontal scrolling on a laptop screen
    plots = {p["id"]: p for p in probe["plots"]}
    assert {"fig3-bpp", "fig3-psnr", "fig3-ssim", "fig-cost"} <= set(plots)
    tables = {t["id"]: t for t in probe["tables"]}
    assert tables["table-top1"]["rows"] == 2 + 4  # two header rows + four anchors
    assert "Table 2" in probe["text"] and "anchor3" in probe["text"]

    image = Image.open(report.screenshot).convert("RGB")
    assert image.width == 1366 and image.height > 900
    colors = image.resize((200, 200 * image.height // image.width)).getcolors(1 << 16)
    assert colors is not None and len(colors) > 50  # not a blank page
    for name in ("fig3-bpp", "fig3-psnr", "fig3-ssim"):
        box = plots[name]["box"]
        assert box["w"] > 600 and box["h"] > 150, (name, box)
        assert plots[name]["paths"] > 20  # axes, ticks, curves, glyphs
        assert _not_white(image, box) > 0.03, name  # something was drawn there
    assert _not_white(image, tables["table-top1"]["box"]) > 0.05


@pytest.mark.slow
def test_escaped_markup_is_inert_in_a_browser(real_run, tmp_path):
    from jpegai_eval.reports.html import HtmlReportWriter
    from tests.browser import load_page

    hostile = _hostile_copy(real_run, tmp_path / "hostile")
    (page,) = HtmlReportWriter().write(hostile, tmp_path / "out")
    report = load_page(page.resolve().as_uri(), tmp_path / "hostile.png", PROBE)
    _check_page(report, page.resolve().as_uri())
    assert report.probe["scripts"] == 0
    assert HOSTILE in report.probe["text"]  # shown as text, not run
    assert "jp<b>eg" in report.probe["text"]
