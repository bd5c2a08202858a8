"""The paper preset fine-tunes from torchvision's ImageNet ResNet-50 by default.

No network: ``JPEGAI_EVAL_OFFLINE=1`` and an empty ``TORCH_HOME`` make the missing file
fail before any work; files with a matching hash prefix are made under a test variant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from click.testing import CliRunner

from jpegai_eval.framework.errors import WeightsError
from jpegai_eval.tasks.imagenet import VARIANTS, resolve_imagenet_weights

V1_NAME, V1_URL = VARIANTS["IMAGENET1K_V1"]


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch-home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("JPEGAI_EVAL_OFFLINE", "1")
    return home


def test_paper_preset_defaults_to_imagenet_v1_and_fails_offline(empty_torch_home):
    with pytest.raises(WeightsError) as info:
        resolve_imagenet_weights(None, "paper")
    message = info.value.message
    folder = empty_torch_home / "hub" / "checkpoints"
    assert V1_NAME == "resnet50-0676ba61.pth"
    assert V1_NAME in message and str(folder) in message and V1_URL in message
    assert "JPEGAI_EVAL_OFFLINE" in message and "--imagenet-weights none" in message
    # V2 is selectable and named the same way.
    with pytest.raises(WeightsError, match="resnet50-11ad3fa6.pth"):
        resolve_imagenet_weights("IMAGENET1K_V2", "paper")


def test_other_presets_and_none_train_from_scratch(empty_torch_home):
    for value, preset in ((None, "smoke"), ("none", "paper"), ("None", "quick")):
        init = resolve_imagenet_weights(value, preset)
        assert init.path is None and init.label.startswith("from scratch"), (value, preset)


def test_a_found_variant_is_hash_checked(tmp_path, monkeypatch):
    data = b"a checkpoint"
    name = f"resnet50-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setitem(VARIANTS, "TEST_V9", (name, f"https://example.invalid/{name}"))
    (tmp_path / name).write_bytes(data)
    init = resolve_imagenet_weights("test_v9", "paper", folder=tmp_path)
    assert init.path == str(tmp_path / name) and "TEST_V9" in init.label
    (tmp_path / name).write_bytes(b"damaged")
    with pytest.raises(WeightsError, match="does not start with"):
        resolve_imagenet_weights("TEST_V9", "paper", folder=tmp_path)
    # The same file given as a path is checked too; any other path is taken as it is.
    with pytest.raises(WeightsError, match="is not torchvision's"):
        resolve_imagenet_weights(str(tmp_path / name), "paper")
    other = tmp_path / "mine.pth"
    other.write_bytes(b"x")
    assert resolve_imagenet_weights(str(other), "quick").path == str(other)
    with pytest.raises(WeightsError, match="is not a file"):
        resolve_imagenet_weights(str(tmp_path / "missing.pth"), "paper")


def test_run_paper_without_the_file_stops_before_the_output_folder(empty_torch_home, tmp_path):
    from jpegai_eval.cli import cli

    out = tmp_path / "run"
    args = ["run", "--codec", "hyperprior-msssim", "--task", "minc", "--dataset", "demo"]
    result = CliRunner().invoke(cli, [*args, "--preset", "paper", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert not out.exists()
    text = " ".join(result.output.split())
    assert V1_NAME in text and V1_URL in text
    assert str(empty_torch_home / "hub" / "checkpoints") in text
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_run_paper_with_none_trains_from_scratch_and_says_so(
    empty_torch_home, tmp_path, monkeypatch
):
    from jpegai_eval.framework.run.evaluator import run_study
    from jpegai_eval.framework.run.plan import RunConfig
    from jpegai_eval.tasks import training
    from jpegai_eval.tasks.demo import write_demo_dataset

    # The paper preset, shrunk to the smoke preset's sizes so that this runs in seconds.
    tiny = dataclasses.replace(training.PRESETS["smoke"], name="paper")
    monkeypatch.setitem(training.PRESETS, "paper", tiny)
    data = write_demo_dataset(tmp_path / "data", per_class=3, size=64, seed=2)
    config = RunConfig(
        codecs=["hyperprior-msssim"],
        task="minc",
        task_options={"data_root": str(data)},
        qualities=[1],
        anchors=["anchor3"],
        weights="demo",
        preset="paper",
        imagenet_weights="none",
        workers=1,
    )
    result = run_study(config, out_dir=tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["classifier_init"].startswith("from scratch")
    assert "from scratch" in (tmp_path / "run" / "run.log").read_text()
    html = [p for p in result.reports if p.suffix == ".html"]
    assert html and "from scratch" in html[0].read_text()
