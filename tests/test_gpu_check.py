"""benchmarks/gpu_check.sh (issue 26, item 4): its CPU dry run goes through every
section and prints the lines a GPU session reads; the projection's arithmetic."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _probe():
    spec = importlib.util.spec_from_file_location("gpu_probe", ROOT / "benchmarks/gpu_probe.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_probe"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_projection_scales_each_part_by_its_own_count():
    probe = _probe()
    m = probe.StudyMeasure(
        images=100,
        train_images=80,
        test_images=10,
        qualities=1,
        epochs_run=1,
        encode_s=20.0,
        dataset_s=1.0,
        classify_s=50.0,
        epoch_s={"pixel-original": 8.0, "pixel-decoded-x-q1": 8.0, "latent-latents-x-q1": 2.0},
        train_s={"pixel-original": 16.0, "pixel-decoded-x-q1": 16.0, "latent-latents-x-q1": 4.0},
    )
    p = probe.project(m, qualities=3, gpus=8)
    assert p.encode_s == pytest.approx(20.0 / 100 * 57_500 * 3)
    per_image_epoch = {k: v / 80 * 48_875 * 30 for k, v in m.epoch_s.items()}
    expected_train = per_image_epoch["pixel-original"] + 3 * (
        per_image_epoch["pixel-decoded-x-q1"] + per_image_epoch["latent-latents-x-q1"]
    )
    assert p.train_s == pytest.approx(expected_train)
    assert p.other_s == pytest.approx((50.0 - 36.0) / 10 * 5_750 * 3 + 1.0 / 100 * 57_500)
    assert p.one_gpu_s == pytest.approx(p.encode_s + p.train_s + p.other_s)
    assert p.eight_gpus_s == pytest.approx(p.one_gpu_s / 8)


@pytest.mark.slow
def test_cpu_dry_run_prints_every_section(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(
        ["bash", str(SCRIPT), "--device", "cpu", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "dry run on the CPU" in out and out.startswith("gpu_check:")
    assert "tests/test_onnx_cuda.py" in out  # the GPU-only tests were found
    for section in ("bench", "train-probe", "onnx-probe", "study"):
        assert re.search(rf"^section {section}: ok in \d+ s", out, re.M), section
    for model in ("resnet50", "cresnet39"):
        for precision in ("fp32", "bf16"):
            assert re.search(
                rf"^train probe: {model}@\d+ batch 2 {precision}: [\d.]+ images/s", out, re.M
            )
    assert re.search(r"^onnx parity: resnet50 provider CPUExecutionProvider .*: ok$", out, re.M)
    line = re.search(
        r"^projected full paper study .*: 1 GPU ([\d.]+) h; 8 GPUs .* ([\d.]+) h", out, re.M
    )
    assert (
        line
        and float(line[1]) > 0
        and float(line[2]) == pytest.approx(float(line[1]) / 8, abs=0.02)
    )
    # the dry run's study encodes one image at a time on the CPU (a GPU batches 16)
    assert re.search(
        r"^study: encode stage [\d.]+ s \(hyperprior-msssim-\S+: batch 1 on cpu", out, re.M
    )
    assert re.search(r"gpu_check: done in \d+ s; failed: none$", out, re.M)
    bench = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert bench  # jpegai-eval bench wrote its JSON
    study = json.loads((tmp_path / "out" / "study.json").read_text())
    assert study["measure"]["images"] == 69 and set(study["projection"]) >= {"one_gpu_s"}
    train = json.loads((tmp_path / "out" / "train.json").read_text())
    assert {(r["model"], r["precision"]) for r in train} == {
        (m, p) for m in ("resnet50", "cresnet39") for p in ("fp32", "bf16")
    }


def test_bad_arguments_are_one_line(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), "--device", "tpu"], capture_output=True, text=True)
    assert done.returncode == 2 and "--device is cuda or cpu, not tpu" in done.stderr
