"""The quick preset's classifiers: width multiplier, and the texture stand-in for
ImageNet they start from (its corpus, its pretraining, its loading)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from jpegai_eval.framework.api.types import LatentSpec
from jpegai_eval.framework.errors import WeightsError
from jpegai_eval.tasks import demo, imagenet, models, standin, training
from jpegai_eval.tasks.classes import MINC_CLASSES
from jpegai_eval.tasks.minc import MincTask


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_width_scales_channels_and_keeps_table_1_depth():
    full, narrow = models.ResNet50DeepStem(23), models.ResNet50DeepStem(23, width=0.25)
    assert len(_convs(full)) == len(_convs(narrow))  # same layers, blocks, strides
    for a, b in zip(_convs(full), _convs(narrow), strict=True):
        assert (a.kernel_size, a.stride) == (b.kernel_size, b.stride)
        assert b.out_channels == max(8, round(a.out_channels / 4))
    assert narrow.fc.in_features == 512
    with torch.no_grad():
        assert narrow.eval()(torch.zeros(1, 3, 112, 112)).shape == (1, 23)
    c_full, c_narrow = models.CResNet39(96, 96), models.CResNet39(96, 96, width=0.25)
    assert len(_convs(c_full)) == len(_convs(c_narrow))
    assert c_narrow.adapter_y[0].conv1.in_channels == 96  # the latent keeps its channels
    assert c_narrow.adapter_y[0].conv1.out_channels == 8
    with pytest.raises(Exception, match="width multiplier"):
        models.ResNet50DeepStem(23, width=0)


def test_the_preset_sizes_the_task_models():
    task = MincTask()
    assert training.get_preset("quick").width == 0.25
    assert training.get_preset("paper").width == 1.0
    quick = task.classifier_for("pixel", None, "quick")
    paper = task.classifier_for("pixel", None, "paper")
    assert quick.fc.in_features == 512 and paper.fc.in_features == 2048
    spec = LatentSpec(96, 16, 96)
    assert task.classifier_for("latent", spec, "quick").fc.in_features == 512

    class OldTask(MincTask):  # a plugin written before presets could size models
        def build_classifier(self, domain, latent_spec=None):
            return nn.Linear(1, 1)

    assert isinstance(OldTask().classifier_for("pixel", None, "quick"), nn.Linear)


def test_corpus_is_disjoint_from_the_demo_and_turns_its_images():
    items = standin.corpus_items(per_class=4, size=32)
    assert len(items) == 4 * len(MINC_CLASSES)
    assert [label for _, label in items[:8]] == [0, 0, 0, 0, 1, 1, 1, 1]
    source, label = items[5]
    assert label == 1 and source.index == 1  # family 1, one quarter turn
    image = source()
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, source())  # deterministic
    # Never the demo's image for the same (seed, class, index), even before rotation.
    for seed in (0, 1):
        rng = np.random.default_rng([seed, 1, 1])
        demo_image = demo.texture(MINC_CLASSES[1], rng, 32)
        assert not np.array_equal(np.rot90(demo_image, 1), image)
    unrotated = standin.CorpusImage(1, 4, size=32)()  # index 4: no turn
    assert unrotated.shape == (32, 32, 3)


def test_pretrain_writes_a_backbone_that_both_models_load(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "standin.pt"
    record = standin.pretrain(
        out,
        per_class=2,
        workers=0,
        epochs=1,
        milestones=(),
        batch_size=8,
        pixel_resize=36,
        pixel_crop=32,
    )
    state = torch.load(out, weights_only=True)
    assert not any(k.startswith("fc.") for k in state)  # the head stays behind
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert record["corpus"]["images"] == 2 * len(MINC_CLASSES) and record["bytes"] > 0
    assert (tmp_path / "standin.pt.json").is_file()

    r50 = models.ResNet50DeepStem(23, width=0.25)
    report = models.init_from_imagenet(r50, out)
    assert report.loaded == len(state) and not report.shape_mismatch
    assert torch.equal(r50.stem[0].weight, state["stem.0.weight"].float())
    c39 = models.CResNet39(8, 8, 23, width=0.25)
    report = models.init_from_imagenet(c39, out)
    assert report.loaded > 0 and not report.shape_mismatch
    assert torch.equal(c39.layer4[0].conv1.weight, state["layer4.0.conv1.weight"].float())


def test_quick_defaults_to_the_shipped_standin(monkeypatch, tmp_path):
    init = imagenet.resolve_imagenet_weights(None, "quick")
    assert init.path == str(standin.standin_path()) and "stand-in" in init.label
    assert imagenet.resolve_imagenet_weights("texture-standin", "paper").path == init.path
    assert imagenet.resolve_imagenet_weights("none", "quick").path is None
    assert imagenet.variant_for(None, "quick") is None  # nothing to download
    monkeypatch.setattr(imagenet, "standin_path", lambda: tmp_path / "gone.pt")
    with pytest.raises(WeightsError, match="gone.pt") as err:
        imagenet.resolve_imagenet_weights(None, "quick")
    assert "jpegai-eval task pretrain" in str(err.value) and "none" in str(err.value)


def _shipped_record(path):
    """The ``.json`` record of a shipped stand-in file, checked against the file (digest,
    size) and against the defaults: `jpegai-eval task pretrain [--domain latent] --out
    FILE` is the command that made it (same corpus, same recipe)."""
    import hashlib
    import json

    record = json.loads(path.with_name(path.name + ".json").read_text())
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size <= 3.5e6
    assert record["corpus"]["per_class"] == standin.CORPUS_PER_CLASS
    assert record["corpus"]["images"] == standin.CORPUS_PER_CLASS * 23
    assert record["seed"] == 0
    for key, value in standin.RECIPE.items():
        assert record["recipe"][key] == (list(value) if isinstance(value, tuple) else value)
    return record


def test_shipped_standin_matches_its_record():
    path = standin.standin_path()
    _shipped_record(path)
    r50 = models.ResNet50DeepStem(23, width=training.get_preset("quick").width)
    assert not models.init_from_imagenet(r50, path).shape_mismatch


def test_latent_standin_is_pretrained_on_the_demo_codecs_latents(tmp_path, monkeypatch):
    """The stand-in's cResNet-39 half: the corpus coded by the demo codec (image index
    at quality index % 8 + 1), latents kept per quality and weights digest, resumable;
    the file loads into cResNet-39 adapters included, and cResNet-39 classifiers take it
    when the stand-in is asked for."""
    torch.set_num_threads(1)
    out = tmp_path / "latent.pt"
    work = tmp_path / "work"
    tiny = {"epochs": 1, "milestones": (), "batch_size": 8, "latent_resize": 5, "latent_crop": 4}
    record = standin.pretrain_latents(out, per_class=1, workers=0, work_dir=work, **tiny)
    coded = sorted((work / "latents").rglob("*.npz"))
    assert len(coded) == len(MINC_CLASSES)  # index 0 of every family: quality 1
    assert {p.parent.name.split("-")[0] for p in coded} == {"q1"}
    assert record["latents"]["weights_id"]["1"] in coded[0].parent.name
    with np.load(coded[0]) as npz:
        assert npz["y_hat"].dtype == np.float16 and npz["y_hat"].shape[0] == 96
        y = npz["y_hat"].astype(np.float32)
        np.testing.assert_array_equal(y, np.round(y))  # quantised latents, kept exactly
    stamp = coded[0].stat().st_mtime_ns
    standin.pretrain_latents(out, per_class=1, workers=0, work_dir=work, **tiny)
    assert coded[0].stat().st_mtime_ns == stamp  # resumed: nothing coded again

    state = torch.load(out, weights_only=True)
    assert any(k.startswith("adapter_y.") for k in state) and not any(
        k.startswith("fc.") for k in state
    )
    c39 = models.CResNet39(96, 96, 23, width=0.25)
    report = models.init_from_imagenet(c39, out)
    assert report.loaded == len(state) and not report.shape_mismatch
    assert torch.equal(c39.adapter_y[0].conv1.weight, state["adapter_y.0.conv1.weight"].float())

    # With the stand-in asked for, cResNet-39 takes this file and ResNet-50 the other.
    pixel_file = tmp_path / "pixel.pt"
    torch.save(models.ResNet50DeepStem(23, width=0.25).state_dict(), pixel_file)
    monkeypatch.setattr(imagenet, "standin_path", lambda: pixel_file)
    monkeypatch.setattr(imagenet, "latent_standin_path", lambda: out)
    init = imagenet.resolve_imagenet_weights(None, "quick")
    assert init.path == str(pixel_file)
    assert "latent.pt sha256" in init.label and "pixel.pt sha256" in init.label
    task = MincTask()
    c39 = task.classifier_for("latent", LatentSpec(96, 16, 96), "quick")
    report = task.init_classifier(c39, init.path, domain="latent")
    assert report.path == str(out) and report.loaded == len(state)
    r50 = task.classifier_for("pixel", None, "quick")
    assert task.init_classifier(r50, init.path, domain="pixel").path == str(pixel_file)
    assert imagenet.checkpoint_for_domain(str(pixel_file), "latent") == str(out)
    assert imagenet.checkpoint_for_domain(str(tmp_path / "mine.pt"), "latent").endswith("mine.pt")


def test_shipped_latent_standin_matches_its_record_and_the_demo_codec():
    import json

    path = standin.latent_standin_path()
    record = _shipped_record(path)
    spec = LatentSpec(96, 16, 96)
    assert record["latents"]["latent_spec"] == repr(spec)
    # Made from the shipped demo codec: retraining a quality means pretraining again.
    from pathlib import Path

    import jpegai_eval

    manifest = Path(jpegai_eval.__file__).parent / "codecs" / "weights" / "demo" / "manifest.json"
    shipped = json.loads(manifest.read_text())["qualities"]
    assert record["latents"]["weights_id"] == {q: e["weights_id"] for q, e in shipped.items()}
    c39 = models.CResNet39(96, 96, 23, width=training.get_preset("quick").width)
    report = models.init_from_imagenet(c39, path)
    assert not report.shape_mismatch and report.loaded == len(torch.load(path, weights_only=True))
