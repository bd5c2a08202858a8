"""Decode once (issue 26, item 2): the resized images stored once give the very same
training batches and weights; the array is keyed on its sources and rebuilt when they
change or it is damaged; it is removed when the training finishes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from jpegai_eval.framework.errors import DatasetError
from jpegai_eval.tasks import decode_once, demo, training
from jpegai_eval.tasks.minc import load_splits
from jpegai_eval.tasks.models import ResNet50DeepStem

torch.set_num_threads(1)


@pytest.fixture()
def pixel_items(tmp_path):
    root = demo.write_demo_dataset(tmp_path / "d", per_class=3, size=44, seed=2)
    train = load_splits(root, 1).entries["train"]
    return [(root / e.rel, e.label) for e in train[:10]]


def _build(items, folder, workers=0):
    return decode_once.decode_once(
        items, 36, folder, training.load_image, training._resize_pil, workers
    )


def test_the_same_batches_with_and_without(pixel_items, tmp_path):
    preset = training.get_preset("quick", pixel_resize=36, pixel_crop=32)  # jitter, PCA on
    once = _build(pixel_items, tmp_path, workers=1)
    assert all(isinstance(s, decode_once.DecodedRow) for s, _ in once)
    for train in (True, False):
        plain = training.ItemDataset(pixel_items, "pixel", preset, train=train, seed=3)
        fast = training.ItemDataset(once, "pixel", preset, train=train, seed=3)
        for epoch in (0, 1):
            plain.epoch = fast.epoch = epoch
            for i in range(len(pixel_items)):
                (a, la), (b, lb) = plain[i], fast[i]
                assert la == lb and torch.equal(a, b), (train, epoch, i)


def test_the_array_is_keyed_and_validated(pixel_items, tmp_path):
    array, record = decode_once.paths(tmp_path, 36)
    _build(pixel_items, tmp_path)
    stamp = array.stat().st_mtime_ns
    _build(pixel_items, tmp_path)
    assert array.stat().st_mtime_ns == stamp  # reused
    with open(array, "r+b") as fh:  # a killed write: too short
        fh.truncate(100)
    rows = _build(pixel_items, tmp_path)
    assert array.stat().st_size == 10 * 36 * 36 * 3
    source = pixel_items[0][0]
    expected = training._resize_pil(training.load_image(pixel_items[3][0]), 36)
    np.testing.assert_array_equal(rows[3][0](), np.asarray(expected))
    os.utime(source, ns=(1, 1))  # a changed source file: rebuilt, record follows
    before = json.loads(record.read_text())["key"]
    _build(pixel_items, tmp_path)
    assert json.loads(record.read_text())["key"] != before
    callables = [(lambda: np.zeros((8, 8, 3), np.uint8), 0)]
    assert _build(callables, tmp_path / "c") == callables  # not keyable: unchanged


def test_a_corrupt_image_is_one_paragraph(pixel_items, tmp_path):
    pixel_items[2][0].write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="Corrupt or unreadable image") as err:
        training.train_classifier(
            ResNet50DeepStem(23, 0.25),
            pixel_items,
            training.get_preset("smoke"),
            "pixel",
            tmp_path / "t",
            device="cpu",
            workers=1,
            progress=False,
        )
    assert "Traceback" not in err.value.message


def test_training_weights_are_identical_and_the_array_is_removed(pixel_items, tmp_path):
    preset = training.get_preset("smoke", pixel_resize=36, pixel_crop=32, epochs=2)
    states = []
    for once, folder in ((False, "a"), (True, "b")):
        torch.manual_seed(0)
        model = ResNet50DeepStem(23, 0.25)
        training.train_classifier(
            model,
            pixel_items,
            preset,
            "pixel",
            tmp_path / folder,
            device="cpu",
            workers=0,
            progress=False,
            decode_once=once,
        )
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not list((tmp_path / "b").glob("decoded-*"))  # removed when finished
