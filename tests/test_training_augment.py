"""The pixel training augmentation gives, value for value, what torchvision's
transforms applied one after the other give with the same RNG (the fast path's table
of the float steps and its array crop must not change a single bit): the loader before
issue #26, kept as ``bench``'s reference (``StepByStepAugment``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from jpegai_eval.bench.training import StepByStepAugment
from jpegai_eval.tasks import training


@pytest.mark.parametrize("side", [40, 37])  # resized, and already at the resize
@pytest.mark.parametrize("lighting", [True, False])
def test_bit_identical_to_the_plain_composition(side, lighting):
    base = training.get_preset("paper")
    p = dataclasses.replace(
        base,
        pixel_resize=37,
        pixel_crop=29,
        pca_lighting=base.pca_lighting if lighting else 0.0,
    )
    assert p.color_jitter and base.pca_lighting  # the paper preset jitters and lights
    rng = np.random.default_rng(side)
    fast = training._PixelTrainTransform(p)
    flips = set()
    for seed in range(12):
        image = rng.integers(0, 256, (side, side + 3 if side == 40 else side, 3), np.uint8)
        if side == 37:
            image = image[:, :37]
        torch.manual_seed(seed)
        got = fast(np.ascontiguousarray(image))
        after = torch.rand(())
        torch.manual_seed(seed)
        want = StepByStepAugment(p)(np.ascontiguousarray(image))
        assert torch.rand(()) == after  # the same number of draws
        assert got.dtype == torch.float32 and got.shape == (3, 29, 29)
        assert torch.equal(got, want), f"seed {seed}: max diff {(got - want).abs().max()}"
        torch.manual_seed(seed)  # replay the draws: was this one flipped?
        training._crop_origin(p.pixel_resize, p.pixel_resize, p.pixel_crop)
        flips.add(bool(torch.rand(()) < 0.5))
    assert flips == {True, False}  # both branches were compared


def test_item_seeding_leaves_accelerator_generators_alone(monkeypatch):
    """An item's seed sets the CPU generator only (``torch.manual_seed`` would also
    reseed CUDA's, changing the training loop's dropout on a GPU)."""
    calls = []
    monkeypatch.setattr(torch, "manual_seed", lambda s: calls.append(s))
    p = dataclasses.replace(training.get_preset("paper"), pixel_resize=20, pixel_crop=16)
    rng = np.random.default_rng(0)
    items = [(rng.integers(0, 256, (20, 20, 3), np.uint8), 0) for _ in range(2)]
    items = [((lambda a=a: a), label) for a, label in items]
    ds = training.ItemDataset(items, "pixel", p, train=True, seed=3)
    first = ds[1][0]
    state = torch.get_rng_state()
    again = ds[1][0]
    assert torch.equal(first, again) and torch.equal(state, torch.get_rng_state())
    assert calls == []


def test_the_loader_batch_is_the_items_stacked():
    """The training loader fills its batch from the items' draws (``__getitems__`` and
    ``collate_items``): the same tensor as stacking ``dataset[i]``, epoch by epoch, and
    the old step-by-step loader's; a dataset of other items collates as PyTorch does."""
    from jpegai_eval.bench.training import _dataset

    p = dataclasses.replace(training.get_preset("paper"), pixel_resize=24, pixel_crop=20)
    rng = np.random.default_rng(5)
    items = [
        ((lambda a=a: a), i % 3)
        for i, a in enumerate(rng.integers(0, 256, (24, 24, 3), np.uint8) for _ in range(5))
    ]
    ds = training.ItemDataset(items, "pixel", p, train=True, seed=7)
    old = _dataset(items, p, 7, before=True)
    mode = training.resolve_training_mode(torch.device("cpu"), None)
    for epoch in (0, 1):
        ds.epoch = old.epoch = epoch
        batches = [
            next(
                iter(
                    training._loader(
                        d, 5, shuffle=False, workers=0, device=torch.device("cpu"), mode=mode
                    )
                )
            )
            for d in (ds, old)
        ]
        x, y = batches[0]
        assert x.shape == (5, 3, 20, 20) and x.dtype == torch.float32
        assert torch.equal(x, torch.stack([ds[i][0] for i in range(5)]))
        assert torch.equal(x, batches[1][0]) and torch.equal(y, batches[1][1])
        assert y.tolist() == [0, 1, 2, 0, 1] and y.dtype == torch.int64
    assert not torch.equal(*[torch.stack([ds[i][0] for i in range(5)]) for ds.epoch in (0, 1)])
    plain = training.ItemDataset(items[:2], "pixel", p, train=False)  # evaluation items
    got = next(
        iter(training._loader(plain, 2, shuffle=False, workers=0, device=torch.device("cpu")))
    )
    assert torch.equal(got[0], torch.stack([plain[0][0], plain[1][0]]))
    assert got[1].tolist() == [0, 1]
