"""The synthetic demo dataset: deterministic, in MINC-2500's layout, and learnable."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.framework.errors import UsageError, UserError
from jpegai_eval.tasks import demo
from jpegai_eval.tasks.classes import MINC_CLASSES
from jpegai_eval.tasks.cli import data_group
from jpegai_eval.tasks.minc import load_splits


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return demo.write_demo_dataset(tmp_path_factory.mktemp("demo") / "d", per_class=3, size=48)


def test_same_seed_gives_byte_identical_files(tiny, tmp_path):
    again = demo.write_demo_dataset(tmp_path / "again", per_class=3, size=48)
    other = demo.write_demo_dataset(tmp_path / "other", per_class=3, size=48, seed=1)
    assert demo.dataset_fingerprint(again) == demo.dataset_fingerprint(tiny)
    assert demo.dataset_fingerprint(other) != demo.dataset_fingerprint(tiny)


def test_an_image_does_not_depend_on_how_many_are_generated(tiny, tmp_path):
    bigger = demo.write_demo_dataset(tmp_path / "b", per_class=4, size=48)
    rel = "images/wood/wood_000002.jpg"
    assert (bigger / rel).read_bytes() == (tiny / rel).read_bytes()


def test_layout_is_minc_and_the_loader_validates_it(tiny):
    assert sorted(p.name for p in (tiny / "images").iterdir()) == sorted(MINC_CLASSES)
    assert (tiny / "categories.txt").read_text().split() == list(MINC_CLASSES)
    for number in range(1, 6):
        splits = load_splits(tiny, number)
        assert splits.counts() == {"train": 23, "validate": 23, "test": 23}
        rels = [e.rel for items in splits.entries.values() for e in items]
        assert len(set(rels)) == 23 * 3
    first = load_splits(tiny, 1).entries["train"][0]
    assert first.rel.startswith("images/brick/brick_") and first.label == 0
    with Image.open(tiny / first.rel) as img:
        assert img.format == "JPEG" and img.size == (48, 48) and img.mode == "RGB"
    # partitions are reshuffles, not copies
    assert load_splits(tiny, 1).entries["test"] != load_splits(tiny, 2).entries["test"]


def test_default_split_counts():
    assert demo.split_counts(24) == {"train": 16, "validate": 2, "test": 6}
    assert demo.split_counts(3) == {"train": 1, "validate": 1, "test": 1}


def test_classes_are_distinct_but_not_trivially(tmp_path):
    """A nearest-centroid classifier on colour/gradient statistics beats chance by far."""
    root = demo.write_demo_dataset(tmp_path / "d", per_class=8, size=48)

    def features(rel):
        x = np.asarray(Image.open(root / rel), dtype=np.float32) / 255
        gx, gy = np.abs(np.diff(x, axis=1)).mean(), np.abs(np.diff(x, axis=0)).mean()
        return np.concatenate([x.mean((0, 1)), x.std((0, 1)), [gx * 4, gy * 4]])

    classes = range(len(MINC_CLASSES))
    feats = {
        c: [features(demo.image_name(n, i)) for i in range(8)] for c, n in enumerate(MINC_CLASSES)
    }
    centroids = np.stack([np.mean(feats[c][:5], axis=0) for c in classes])
    hits = [
        int(np.argmin(((centroids - f) ** 2).sum(1)) == c) for c in classes for f in feats[c][5:]
    ]
    accuracy = np.mean(hits)
    assert accuracy > 3 / len(MINC_CLASSES), accuracy  # chance is 1/23


def test_rejects_bad_options_and_non_empty_folders(tiny, tmp_path):
    with pytest.raises(UsageError, match="--per-class"):
        demo.write_demo_dataset(tmp_path / "x", per_class=2)
    with pytest.raises(UsageError, match="--size"):
        demo.write_demo_dataset(tmp_path / "x", size=8)
    with pytest.raises(UserError, match="not empty"):
        demo.write_demo_dataset(tiny, per_class=3, size=48)


def test_cached_demo_is_generated_once_atomically(tmp_path):
    first = demo.demo_dataset_root(per_class=3, size=32, cache=tmp_path)
    stamp = (first / "README.txt").stat().st_mtime_ns
    second = demo.demo_dataset_root(per_class=3, size=32, cache=tmp_path)
    assert second == first and (first / "README.txt").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp folder left
    assert load_splits(first, 1).counts()["test"] == 23


def test_cli_data_demo(tmp_path):
    out = tmp_path / "d"
    result = CliRunner().invoke(data_group, ["demo", str(out), "--per-class", "3", "--size", "32"])
    assert result.exit_code == 0, result.output
    assert "Wrote 69 images" in result.output
    assert load_splits(out, 1).counts() == {"train": 23, "validate": 23, "test": 23}
    bad = CliRunner().invoke(data_group, ["demo", str(tmp_path / "e"), "--per-class", "1"])
    assert isinstance(bad.exception, UsageError) and "--per-class" in bad.exception.message


def test_a_pool_of_workers_writes_the_same_files(tmp_path):
    """``workers`` only spreads the drawing over processes (issue 26's GPU check)."""
    one = demo.write_demo_dataset(tmp_path / "one", per_class=3, size=32, seed=4)
    two = demo.write_demo_dataset(tmp_path / "two", per_class=3, size=32, seed=4, workers=2)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(files) > 69 and files == sorted(
        p.relative_to(two) for p in two.rglob("*") if p.is_file()
    )
    assert all((one / f).read_bytes() == (two / f).read_bytes() for f in files)
