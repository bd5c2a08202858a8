"""MINC-2500 loader: root resolution, validation errors, the task and its plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pluggy
import pytest

from jpegai_eval.framework.api import hookspecs
from jpegai_eval.framework.api.types import Sample, Task
from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.tasks import demo
from jpegai_eval.tasks.classes import MINC_CLASSES, MINC_URL
from jpegai_eval.tasks.minc import (
    ROOT_ENV,
    MincTask,
    check_images,
    load_splits,
    resolve_root,
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return demo.write_demo_dataset(tmp_path_factory.mktemp("minc") / "d", per_class=3, size=32)


@pytest.fixture
def root(pristine, tmp_path):
    """A fresh, writable copy of a valid dataset."""
    return shutil.copytree(pristine, tmp_path / "minc-2500")


def test_missing_root_names_the_url_and_the_layout(monkeypatch, tmp_path):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    with pytest.raises(DatasetError) as err:
        resolve_root(None)
    assert MINC_URL in err.value.message and "labels/{train,validate,test}" in err.value.message
    assert "--data-root" in err.value.message and ROOT_ENV in err.value.message
    with pytest.raises(DatasetError, match="is not a folder") as err:
        resolve_root(tmp_path / "nope")
    assert MINC_URL in err.value.message


def test_root_from_the_environment(monkeypatch, root):
    monkeypatch.setenv(ROOT_ENV, str(root))
    assert resolve_root(None) == root
    samples = MincTask().samples("test")
    assert len(samples) == 23 and isinstance(samples[0], Sample)
    assert samples[0].path == root / samples[0].id and samples[0].path.is_file()


def test_unpacked_archive_parent_is_pointed_at_the_inner_folder(root):
    with pytest.raises(DatasetError, match="minc-2500"):
        resolve_root(root.parent)


def test_missing_label_file(root):
    (root / "labels" / "validate1.txt").unlink()
    with pytest.raises(DatasetError) as err:
        load_splits(root, 1)
    assert "labels/validate1.txt" in err.value.message and "1 label file" in err.value.message
    assert load_splits(root, 2).counts()["validate"] == 23  # other partitions still fine


def test_missing_images_are_counted_and_named(root):
    for name in ("brick_000000", "brick_000001", "brick_000002"):
        (root / "images" / "brick" / f"{name}.jpg").unlink()
    with pytest.raises(DatasetError) as err:
        load_splits(root, 1)
    msg = err.value.message
    assert "3 missing image file(s)" in msg and "images/brick/brick_000000.jpg" in msg


def test_every_kind_of_malformation_in_one_message(root):
    train = root / "labels" / "train1.txt"
    lines = train.read_text().splitlines()
    lines += [lines[0], "images/marble/marble_000001.jpg", "brick_000001.jpg"]
    train.write_text("\n".join(lines) + "\n")
    test_lines = (root / "labels" / "test1.txt").read_text().splitlines()
    (root / "labels" / "test1.txt").write_text("\n".join(test_lines + [lines[1]]) + "\n")
    (root / "labels" / "validate1.txt").write_text("\n")
    with pytest.raises(DatasetError) as err:
        load_splits(root, 1)
    msg = err.value.message
    assert f"1 duplicate line(s) in labels/train1.txt ({lines[0]} x2)" in msg
    assert "1 line(s) with an unknown class (labels/train1.txt: images/marble/" in msg
    assert "1 malformed label line(s)" in msg and "brick_000001.jpg" in msg
    assert f"1 image(s) in two splits ({lines[1]} in train and test)" in msg
    assert "1 empty split(s) (labels/validate1.txt)" in msg


def test_long_offender_lists_are_cut(root):
    shutil.rmtree(root / "images" / "wood")
    shutil.rmtree(root / "images" / "water")
    with pytest.raises(DatasetError, match=r"6 missing image file\(s\) \(.* and 1 more\)"):
        load_splits(root, 1)


def test_categories_must_be_minc_order(root):
    (root / "categories.txt").write_text("\n".join(reversed(MINC_CLASSES)))
    with pytest.raises(DatasetError, match="canonical order"):
        load_splits(root, 1)


def test_bad_split_number_and_split_name(root):
    with pytest.raises(UsageError, match="1 to 5"):
        load_splits(root, 6)
    with pytest.raises(UsageError, match="Unknown split 'val'"):
        MincTask().samples("val", data_root=root)


def test_corrupt_image_is_found_by_check_images(root):
    rel = "images/sky/sky_000001.jpg"
    (root / rel).write_bytes(b"\xff\xd8 not a jpeg")
    splits = load_splits(root, 1)  # layout is fine: the file exists
    assert check_images(splits) == [rel]


def test_task_demo_dataset_goes_to_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("JPEGAI_EVAL_CACHE", str(tmp_path))
    task = MincTask()
    root = task.root(dataset="demo", demo_per_class=3, demo_size=32)
    assert root.parent == tmp_path and root.name.startswith("demo-minc-")
    assert len(task.samples("train", dataset="demo", demo_per_class=3, demo_size=32)) == 23
    with pytest.raises(UsageError, match="--dataset"):
        task.root(dataset="imagenet")


def test_plugin_registers_the_task_without_importing_torch():
    import jpegai_eval.plugins.minc_task as plugin

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    got: list[Task] = []
    pm.hook.register_tasks(register=got.append)
    assert [t.id for t in got] == ["minc"] and got[0].classes == MINC_CLASSES
    assert set(got[0].presets) == {"paper", "quick", "smoke"}
    code = (
        "import sys, jpegai_eval.plugins.minc_task, jpegai_eval.tasks.cli; "
        "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_evaluator_contract_eval_batch_and_info(root, tmp_path):
    import numpy as np

    from jpegai_eval.framework.api.types import LatentSpec
    from jpegai_eval.tasks import training

    task = MincTask()
    samples = task.samples("test", data_root=root)[:3]
    batch = task.eval_batch([s.path for s in samples], "pixel", "quick")
    assert batch.shape == (3, 3, 112, 112) and batch.dtype == np.float32
    assert np.array_equal(
        batch[1], training.eval_transform("pixel", "quick")(training.load_image(samples[1].path))
    )
    npz = tmp_path / "l.npz"
    np.savez(npz, y_hat=np.ones((4, 8, 8), np.float32), sigma_hat=np.zeros((2, 8, 8)))
    assert task.eval_batch([npz, npz], "latent", "quick").shape == (2, 6, 14, 14)
    spec = LatentSpec(4, 16, 2)
    info = task.classifier_info(task.build_classifier("latent", spec), "latent", spec, "quick")
    assert info["input"] == "6x14x14" and info["params"] > 20e6 and info["macs"] > 0
    quick = task.classifier_for("latent", spec, "quick")  # the quick preset's width
    info = task.classifier_info(quick, "latent", spec, "quick")
    assert info["input"] == "6x14x14" and 1e6 < info["params"] < 2e6
