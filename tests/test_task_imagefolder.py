"""Task imagefolder: torchvision's ImageFolder layout, its validation, and the whole
study on a small tree (all anchors, both domains), whose report needs only the run
folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.cli import cli
from jpegai_eval.framework.api.plugins import make_plugin_manager
from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.tasks.imagefolder import ImageFolderTask

#: Deliberately not in sorted order: the task must sort them, as torchvision does.
CLASSES = {"sky": (90, 140, 230), "grass": (40, 160, 50), "sand": (200, 180, 120)}
COUNTS = {"train": 4, "val": 1, "test": 2}


def write_tree(root: Path, size: int = 48, seed: int = 0, splits=COUNTS) -> Path:
    """Noisy flat-colour PNGs, one folder per class and split."""
    rng = np.random.default_rng(seed)
    for split, n in splits.items():
        for name, colour in CLASSES.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.array(colour) + rng.normal(0, 25, (size, size, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                    folder / f"{name}_{i}.png"
                )
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_tree(tmp_path_factory.mktemp("folder") / "data")


@pytest.fixture
def copy(tree, tmp_path) -> Path:
    """A writable copy of a valid tree."""
    return Path(shutil.copytree(tree, tmp_path / "copy"))


def test_classes_are_the_sorted_folder_names_and_samples_follow_them(tree):
    task = ImageFolderTask()
    train = task.samples("train", data_root=str(tree))
    assert task.classes == ("grass", "sand", "sky")
    assert len(train) == 3 * COUNTS["train"]
    assert {(s.id.split("/")[1], s.label) for s in train} == {("grass", 0), ("sand", 1), ("sky", 2)}
    assert all(s.path == tree / s.id and s.path.is_file() for s in train)
    test = task.samples("test", data_root=str(tree))
    assert [s.id for s in test][:2] == ["test/grass/grass_0.png", "test/grass/grass_1.png"]
    assert len(task.samples("val", data_root=str(tree))) == 3  # optional, validated
    with pytest.raises(UsageError, match="Unknown split 'validate'"):
        task.samples("validate", data_root=str(tree))


def test_val_is_optional_and_other_files_are_ignored(copy):
    shutil.rmtree(copy / "val")
    (copy / "train" / "sky" / "notes.txt").write_text("not an image")
    (copy / "train" / "README").write_text("stray file beside the class folders")
    (copy / "test" / "sky" / ".hidden.png").write_bytes(b"")
    task = ImageFolderTask()
    assert len(task.samples("train", data_root=str(copy))) == 12
    assert len(task.samples("test", data_root=str(copy))) == 6


def _break(kind: str, root: Path) -> None:
    if kind == "missing-split":
        shutil.rmtree(root / "test")
    elif kind == "classes-differ":
        shutil.move(root / "test" / "sky", root / "test" / "clouds")
    elif kind == "empty-class":
        for f in (root / "train" / "sand").iterdir():
            f.unlink()
    elif kind == "bad-name":
        name = os.fsdecode(b"train/grass/caf\xe9.png")  # Latin-1 bytes, not UTF-8
        shutil.copy(root / "train" / "grass" / "grass_0.png", root / name)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing-split", ["has no test/ folder", "holds ['train', 'val']"]),
        (
            "classes-differ",
            ["classes differ from train/", "test/ lacks ['sky'] and adds ['clouds']"],
        ),
        ("empty-class", ["1 empty class folder(s)", "train/sand/"]),
        ("bad-name", ["not valid UTF-8", "train/grass/"]),
    ],
)
def test_a_malformed_tree_is_one_clear_error(copy, kind, expected):
    _break(kind, copy)
    with pytest.raises(DatasetError) as err:
        ImageFolderTask().samples("train", data_root=str(copy))
    message = err.value.message
    for text in expected:
        assert text in message, message
    assert str(copy) in message and "ROOT/train/<class>/<image>" in message
    assert "\n" not in message  # one paragraph


def test_the_testing_kit_passes_the_task(tree):
    from jpegai_eval.testing import check_task

    report = check_task(ImageFolderTask(), tree)
    assert report.classes == 3 and report.counts == {"train": 12, "test": 6}


def test_missing_root_says_what_to_pass(tmp_path):
    with pytest.raises(DatasetError, match="pass --data-root DIR"):
        ImageFolderTask().samples("train")
    with pytest.raises(DatasetError, match="is not a folder"):
        ImageFolderTask().samples("train", data_root=str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="learns its classes from the dataset"):
        ImageFolderTask().classes  # noqa: B018


def test_registered_with_its_option_and_presets(tree):
    task = make_plugin_manager(False).tasks.get("imagefolder")
    assert [o.flag for o in task.options] == ["--data-root", "--allow-duplicates"]
    assert set(task.presets) == {"paper", "quick", "smoke"}
    task.samples("train", data_root=str(tree))
    assert task.classes == ("grass", "sand", "sky")  # the classifiers' output count


def test_cli_errors_name_the_task_and_its_options(tree, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["run", "--codec", "jpeg", "--task", "imagefolder", "--data-root", str(tree),
              "--split", "2"]
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Task 'imagefolder' has no option --split (task minc has)" in result.output
    assert "--data-root" in result.output and "Traceback" not in result.output
    out = tmp_path / "r"
    result = runner.invoke(
        cli, ["run", "--codec", "jpeg", "--task", "imagefolder", "--out", str(out)]
    )
    assert result.exit_code == 1 and "pass --data-root DIR" in result.output
    assert not out.exists()


def test_task_check_validates_with_the_tasks_options(tree, copy):
    runner = CliRunner()
    check = ["task", "check", "imagefolder", "--decode", "--data-root"]
    result = runner.invoke(cli, [*check, str(tree)])
    assert result.exit_code == 0, result.output
    assert "12 train, 6 test images, 3 classes" in result.output
    assert "All 18 images decode" in result.output
    (copy / "test" / "sky" / "sky_0.png").write_bytes(b"\x89PNG not really")
    result = runner.invoke(cli, [*check, str(copy)])
    assert result.exit_code == 1
    assert "1 image(s) of task imagefolder cannot be decoded" in result.output
    result = runner.invoke(cli, ["task", "check", "--split", "2", "minc"])
    assert result.exit_code == 2 and "give the task first" in result.output


def _html_images(path: Path) -> int:
    return path.read_text().count('src="data:image/png;base64,')


@pytest.mark.slow
def test_run_jpeg_on_an_imagefolder_tree_all_anchors_and_report_without_the_dataset(tree, tmp_path):
    data = Path(shutil.copytree(tree, tmp_path / "data"))
    _exif_jpeg(data / "train" / "sky" / "photo.jpg", 6)  # read turned, noted once
    out = tmp_path / "run"
    # The acceptance command of issue 11, with a CPU-friendly worker count and --out.
    args = "run --codec jpeg --task imagefolder --data-root DATA --qualities 1,4 --preset smoke"
    args = [str(data) if a == "DATA" else a for a in args.split()]
    args += ["--workers", "1", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    results = pd.read_csv(out / "results.csv")
    # JPEG has no compressed domain: that anchor is skipped (with a note), the rest run.
    assert list(results["anchor"]) == ["anchor3", "anchor1", "anchor2", "anchor1", "anchor2"]
    assert results["top1"].between(0, 1).all() and (results["n_test"] == 6).all()
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["task_options"] == {"data_root": str(data), "allow_duplicates": False}
    assert any("skipping anchor compressed" in n for n in run["notes"])
    turned = [n for n in run["notes"] if "EXIF orientation" in n]
    assert len(turned) == 1 and "train/sky/photo.jpg" in turned[0], run["notes"]
    assert (out / "run.log").read_text().count("carry an EXIF orientation") == 1

    per_image = pd.read_csv(out / "per_image.csv")
    assert len(per_image) == 6 * 2
    assert set(per_image["label"]) == {"grass", "sand", "sky"}
    assert (per_image["source"] == [str(data / i) for i in per_image["image_id"]]).all()
    for column in ("bitstream", "decoded"):
        assert all((out / p).is_file() for p in per_image[column]), column
    assert per_image["latents"].isna().all()
    copies = per_image["original_copy"].dropna().unique()
    assert len(copies) == 3 and all((out / p).is_file() for p in copies)  # one per class

    # The report needs only the run folder: the dataset can go away.
    shutil.rmtree(data)
    report = tmp_path / "report"
    result = CliRunner().invoke(cli, ["report", str(out), "--out", str(report)])
    assert result.exit_code == 0, result.output
    html = (report / "report.html").read_text()
    assert "original image not" not in html
    assert "decoded image not in the cache" not in html
    # Figure 2: two images, each the original and JPEG at two qualities.
    assert _html_images(report / "report.html") >= 2 * (1 + 2)


@pytest.mark.slow
def test_imagefolder_in_the_compressed_domain(tree, tmp_path):
    """The latent classifier on a hyperprior's latents; Figure 2's maps come from the
    cache entries that per_image.csv names, with the dataset moved away."""
    from jpegai_eval.framework.run.evaluator import run_study
    from jpegai_eval.framework.run.plan import RunConfig

    # The hyperprior codes images of 64x64 and more.
    data = write_tree(tmp_path / "data", size=64, splits={"train": 3, "test": 1})
    out = tmp_path / "run"
    config = RunConfig(
        codecs=["hyperprior-msssim"],
        task="imagefolder",
        task_options={"data_root": str(data)},
        qualities=[1],
        anchors=["anchor3", "compressed"],
        weights="demo",
        preset="smoke",
        workers=1,
    )
    run_study(config, out_dir=out)
    results = pd.read_csv(out / "results.csv").set_index("anchor")
    assert results.loc["compressed", "domain"] == "latent"
    assert results.loc["compressed", "classifier"].startswith("latent-latents-hyperprior")
    per_image = pd.read_csv(out / "per_image.csv")
    assert all((out / p).is_file() for p in per_image["latents"])
    shutil.move(data, tmp_path / "moved")
    result = CliRunner().invoke(cli, ["report", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert html.count('alt="sigma_hat"') == 2 and "original image not" not in html
    assert "decoded image not in the cache" not in html


def test_task_info_works_for_imagefolder_with_every_preset(tree):
    """Issue 28, item 9: before, `task info imagefolder` printed half a table, asked
    for --data-root and then said "No such option '--data-root'"; `--preset smoke` was
    refused. Now it prints the whole table, sized for the dataset when it is given."""
    runner = CliRunner()
    bare = runner.invoke(cli, ["task", "info", "imagefolder", "--preset", "smoke"])
    assert bare.exit_code == 0, bare.output
    assert "sized here for 10 classes" in bare.output and "--data-root" in bare.output
    assert bare.output.count("cResNet-39   latent") == 2 and "convolution layers" in bare.output
    given = runner.invoke(
        cli, ["task", "info", "imagefolder", "--data-root", str(tree), "--preset", "smoke"]
    )
    assert given.exit_code == 0, given.output
    assert "3 classes, from the dataset" in given.output
    # The last layer follows the classes: 2048 inputs (+1 bias) per class at full width.
    params = [
        float(line.split()[3]) * 1e6
        for out in (bare.output, given.output)
        for line in out.splitlines()
        if line.startswith("ResNet-50")
    ]
    assert params[0] - params[1] == pytest.approx(7 * 2049, abs=0.01e6)
    wrong = runner.invoke(cli, ["task", "info", "imagefolder", "--preset", "fast"])
    assert wrong.exit_code == 2 and "its presets are paper, quick, smoke" in wrong.output
    assert "Task imagefolder" not in wrong.output  # nothing printed before the error


# ------------------------------------------- as strict as MINC (issue 28, item 12)


def test_a_symlink_to_an_image_outside_the_root_is_refused(copy, tmp_path):
    """Before: accepted (MINC's loader refuses it)."""
    outside = tmp_path / "secret.png"
    shutil.copy(copy / "train" / "sky" / "sky_0.png", outside)
    (copy / "train" / "sky" / "link.png").symlink_to(outside)
    (copy / "test" / "sand" / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(DatasetError) as err:
        ImageFolderTask().samples("train", data_root=str(copy))
    message = err.value.message
    assert "2 image path(s) that resolve outside the dataset root (symlinks)" in message
    assert "train/sky/link.png" in message and "test/sand/elsewhere/" in message
    # A symlink that stays inside the root is an ordinary image.
    (copy / "train" / "sky" / "link.png").unlink()
    (copy / "test" / "sand" / "elsewhere").unlink()
    (copy / "train" / "sky" / "inside.png").symlink_to(copy / "val" / "sky" / "sky_0.png")
    ids = [s.id for s in ImageFolderTask().samples("train", data_root=str(copy))]
    assert "train/sky/inside.png" in ids


def test_images_in_nested_folders_are_read_with_their_class_folder(copy):
    """Before: images below a class folder were silently left out (24 -> 20)."""
    nested = copy / "train" / "grass" / "meadow" / "2024"
    nested.mkdir(parents=True)
    shutil.copy(copy / "val" / "grass" / "grass_0.png", nested / "g.png")
    (copy / "train" / "grass" / ".cache").mkdir()  # hidden folders stay skipped
    shutil.copy(copy / "val" / "sand" / "sand_0.png", copy / "train" / "grass" / ".cache" / "x.png")
    train = ImageFolderTask().samples("train", data_root=str(copy))
    assert len(train) == 3 * COUNTS["train"] + 1
    found = [s for s in train if s.id == "train/grass/meadow/2024/g.png"]
    assert len(found) == 1 and found[0].label == 0 and found[0].path == nested / "g.png"


def test_the_same_image_in_train_and_test_is_refused_unless_allowed(copy, tmp_path):
    """Before: not caught. The content counts, not the name."""
    shutil.copy(copy / "train" / "sand" / "sand_2.png", copy / "test" / "sand" / "other.png")
    with pytest.raises(DatasetError) as err:
        ImageFolderTask().samples("train", data_root=str(copy))
    message = err.value.message
    assert "1 image(s) in both train/ and test/" in message, message
    assert "test/sand/other.png = train/sand/sand_2.png" in message
    assert "--allow-duplicates" in message
    allowed = ImageFolderTask().samples("test", data_root=str(copy), allow_duplicates=True)
    assert "test/sand/other.png" in [s.id for s in allowed]
    runner = CliRunner()
    refused = runner.invoke(cli, ["task", "check", "imagefolder", "--data-root", str(copy)])
    assert refused.exit_code == 1 and "in both train/ and test/" in refused.output
    accepted = runner.invoke(
        cli, ["task", "check", "imagefolder", "--data-root", str(copy), "--allow-duplicates"]
    )
    assert accepted.exit_code == 0, accepted.output
    assert "allow_duplicates=True" in accepted.output
    # A bool task option: a flag on the command line, true/false/yes/no/1/0 in Python.
    task = ImageFolderTask()
    assert task.resolve_options({"allow_duplicates": "yes"})["allow_duplicates"] is True
    assert task.resolve_options({})["allow_duplicates"] is False
    with pytest.raises(UsageError, match="--allow-duplicates takes a bool; got 'maybe'"):
        task.resolve_options({"allow_duplicates": "maybe"})


def _exif_jpeg(path: Path, orientation: int) -> np.ndarray:
    """A 40x24 JPEG (width x height) with an EXIF orientation tag; its pixels."""
    rng = np.random.default_rng(orientation)
    pixels = np.zeros((24, 40, 3), np.uint8)
    pixels[:, :20] = (250, 20, 20)  # left half red, right half blue: orientation shows
    pixels[:, 20:] = (20, 20, 250)
    pixels = np.clip(pixels + rng.integers(0, 3, pixels.shape), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, format="JPEG", quality=95, exif=exif)
    return pixels


def test_exif_orientation_is_applied_and_noted(copy):
    """Before: ignored without a note (a photo taken upright was read lying down)."""
    from jpegai_eval.framework.io.image_io import read_image, read_image_with_notes

    path = copy / "train" / "sky" / "photo.jpg"
    _exif_jpeg(path, 6)  # 6: the camera was turned; a viewer turns it 90 degrees clockwise
    image, notes = read_image_with_notes(path)
    assert image.shape == (40, 24, 3)  # turned: portrait
    assert image[0, :, 0].mean() > 200 and image[-1, :, 2].mean() > 200  # red on top
    assert notes and "EXIF orientation 6" in notes[0]
    as_stored = copy / "train" / "sky" / "plain.jpg"
    _exif_jpeg(as_stored, 1)
    assert read_image(as_stored).shape == (24, 40, 3)
    task = ImageFolderTask()
    task.samples("train", data_root=str(copy))
    (note,) = task.dataset_notes(data_root=str(copy))
    assert note.startswith("1 image(s) of the ImageFolder dataset carry an EXIF orientation")
    assert "train/sky/photo.jpg" in note and "plain.jpg" not in note
