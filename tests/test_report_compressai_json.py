"""The compressai-json writer: CompressAI's results layout, read by CompressAI's own
plotting script (``python -m compressai.utils.plot``)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from jpegai_eval.cli import cli
from jpegai_eval.framework.errors import UserError
from jpegai_eval.reports.compressai_json import CompressAIJsonWriter

# Rate and fidelity per codec x quality, repeated on each anchor's row as results.csv
# has them; qualities deliberately out of order.
CELLS = {
    ("hyperprior-msssim", "compressai"): {
        8: (0.91, 31.5, 0.991, 210.0, 180.0),
        1: (0.12, 24.2, 0.921, 150.0, 120.0),
        4: (0.35, 27.9, 0.968, 170.0, 140.0),
    },
    ("jpeg", "pillow"): {
        4: (0.52, 28.4, 0.942, 2.0, 1.0),
        1: (0.23, 23.1, 0.802, 1.5, 0.8),
    },
}


@pytest.fixture
def run_dir(tmp_path):
    rows = [{"codec": "original", "backend": None, "quality": None, "anchor": "anchor3"}]
    for (codec, backend), by_quality in CELLS.items():
        for q, (bpp, psnr, msssim, enc, dec) in by_quality.items():
            for anchor in ("anchor1", "anchor2", "compressed"):
                rows.append(
                    {
                        "codec": codec,
                        "backend": backend,
                        "quality": q,
                        "anchor": anchor,
                        "bpp": bpp,
                        "psnr": psnr,
                        "ms_ssim": msssim,
                        "ssim": 0.9,
                        "top1": 0.5,
                        "top5": 0.9,
                        "n_test": 23,
                        "encode_ms_per_image": enc,
                        "decode_ms_per_image": dec,
                    }
                )
    folder = tmp_path / "run"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"config": {"task": "minc"}}))
    return folder  # nothing else: no dataset, no cache, no per_image.csv


def test_one_file_per_codec_in_compressai_layout_ordered_by_quality(run_dir, tmp_path):
    paths = CompressAIJsonWriter().write(run_dir, tmp_path / "out")
    assert sorted(p.name for p in paths) == [
        "hyperprior-msssim_compressai.json",
        "jpeg_pillow.json",
    ]
    doc = json.loads(
        (tmp_path / "out" / "compressai" / "hyperprior-msssim_compressai.json").read_text()
    )
    assert set(doc) == {"name", "description", "results"}
    assert doc["name"] == "hyperprior-msssim/compressai"
    assert (
        "qualities 1, 4, 8" in doc["description"] and "23 test images of minc" in doc["description"]
    )
    cells = CELLS[("hyperprior-msssim", "compressai")]
    results = doc["results"]
    assert results["bpp"] == [cells[q][0] for q in (1, 4, 8)]
    assert results["psnr-rgb"] == [cells[q][1] for q in (1, 4, 8)]
    assert results["ms-ssim-rgb"] == [cells[q][2] for q in (1, 4, 8)]
    assert results["encoding_time"] == pytest.approx([cells[q][3] / 1000 for q in (1, 4, 8)])
    assert results["decoding_time"] == pytest.approx([cells[q][4] / 1000 for q in (1, 4, 8)])


def test_compressai_plot_script_reads_the_files(run_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    plot = pytest.importorskip("compressai.utils.plot.__main__")
    paths = CompressAIJsonWriter().write(run_dir, tmp_path / "out")
    jpeg = next(p for p in paths if p.name == "jpeg_pillow.json")
    psnr = plot.parse_json_file(jpeg, "psnr")
    assert psnr["name"] == "jpeg/pillow"
    assert psnr["xs"] == [0.23, 0.52] and psnr["ys"] == [23.1, 28.4]
    msssim = plot.parse_json_file(jpeg, "ms-ssim")  # converted to dB by the script
    assert list(msssim["ys"]) == pytest.approx([-10 * math.log10(1 - v) for v in (0.802, 0.942)])
    # The whole script, as `python -m compressai.utils.plot -f ... -m ms-ssim -o ...` runs it.
    png = tmp_path / "rd.png"
    plot.main(["-f", *map(str, paths), "-m", "ms-ssim", "-o", str(png)])
    assert png.stat().st_size > 10_000


def test_report_command_writes_it_from_the_run_folder_alone(run_dir):
    result = CliRunner().invoke(cli, ["report", str(run_dir), "--format", "compressai-json"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [
        str(run_dir / "compressai" / "hyperprior-msssim_compressai.json"),
        str(run_dir / "compressai" / "jpeg_pillow.json"),
    ]


def test_a_folder_without_results_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="No results.csv in"):
        CompressAIJsonWriter().write(tmp_path, tmp_path)
    assert not (tmp_path / "compressai").exists()


def test_a_damaged_results_file_is_refused_like_every_report_refuses_it(run_dir, tmp_path):
    path = run_dir / "results.csv"
    frame = pd.read_csv(path)
    frame["bpp"] = frame["bpp"].astype(object)
    frame.loc[1, "bpp"] = "lots"
    frame.to_csv(path, index=False)
    with pytest.raises(UserError, match="row 3 has bpp = 'lots': not a number"):
        CompressAIJsonWriter().write(run_dir, tmp_path / "out")
    assert not (tmp_path / "out" / "compressai").exists()
