"""A dataset with fewer than two classes is refused before any work (issue 28, item 8):
before, an ImageFolder with one class was accepted and reported Top-1 100%."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.cli import cli
from jpegai_eval.framework.api.types import Sample
from jpegai_eval.framework.errors import DatasetError
from jpegai_eval.framework.run.plan import check_classes
from jpegai_eval.tasks.imagefolder import ImageFolderTask


def invoke(args):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def one_class_tree(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        folder = root / split / "sky"
        folder.mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"sky_{i}.png")
    return root


def test_an_imagefolder_with_one_class_is_refused_before_any_work(tmp_path):
    root = one_class_tree(tmp_path / "data")
    out = tmp_path / "run"
    args = ["run", "--codec", "jpeg", "--task", "imagefolder", "--data-root", root]
    result = invoke([*args, "--preset", "smoke", "--out", out])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    error = result.output[result.output.index("Error:") :]
    assert "fewer than the 2 a classifier needs" in error and "train/sky/" in error, error
    assert not out.exists()  # nothing encoded, no folder made
    checked = invoke(["task", "check", "imagefolder", "--data-root", root])
    assert checked.exit_code == 1 and "fewer than the 2" in checked.output, checked.output


def test_any_task_whose_training_split_has_one_class_is_refused(tmp_path):
    """The framework's check, for every task: here MINC's layout (23 classes declared)
    whose training label file lists images of one class only."""
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path / "minc"
    write_demo_dataset(root, per_class=3, size=32, seed=1)
    train = root / "labels" / "train1.txt"
    lines = train.read_text().splitlines()
    train.write_text("\n".join(line for line in lines if "/brick/" in line) + "\n")
    out = tmp_path / "run"
    args = ["run", "--codec", "jpeg", "--task", "minc", "--data-root", root, "--out", out]
    result = invoke([*args, "--preset", "smoke"])
    assert result.exit_code == 1, result.output
    error = result.output[result.output.index("Error:") :]
    assert "training images of 1 class(es) only ['brick']" in error, error
    assert not out.exists()


def test_check_classes():
    task = ImageFolderTask()
    task._current = type("Parts", (), {"classes": ("a", "b")})()  # type: ignore[assignment]
    two = [Sample("a.png", Path("a.png"), 0), Sample("b.png", Path("b.png"), 1)]
    check_classes(task, {"train": two, "test": two})  # two classes: fine
    with pytest.raises(DatasetError, match="only \\['b'\\]"):
        check_classes(task, {"train": two[1:], "test": two})
    task._current = type("Parts", (), {"classes": ("a",)})()  # type: ignore[assignment]
    with pytest.raises(DatasetError, match="has 1 class \\['a'\\]"):
        check_classes(task, {"train": two[:1], "test": two[:1]})
