"""Compressed domains other than the paper's: a classifier branch per declared latent
tensor, latent sizes that follow the codec's stride, and malformed specs refused when
the run is planned (issue #24). The codecs are the test plugins of ``latent_codecs``."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from jpegai_eval import hookimpl
from jpegai_eval.framework.api.plugins import get_plugins, make_plugin_manager
from jpegai_eval.framework.api.types import LatentSpec, LatentTensor
from jpegai_eval.framework.errors import DatasetError, PluginError
from jpegai_eval.framework.run.evaluator import run_study
from jpegai_eval.framework.run.plan import RunConfig, make_plan
from jpegai_eval.tasks import models, training
from jpegai_eval.testing import check_codec, synthetic_image
from tests.latent_codecs import BlockMean, LatentCodecsPlugin, TinyMeanScale

STANDIN = Path(models.__file__).parent / "weights" / "texture-standin-cresnet39-w0.25.pt"


@pytest.fixture(scope="module")
def tiny_minc(tmp_path_factory) -> Path:
    """23 classes x 3 images (one each in train, validate, test), 64x64, MINC layout."""
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("minc")
    write_demo_dataset(root, per_class=3, size=64, seed=3)
    return root


def _npz(latents: dict[str, np.ndarray], path: Path) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **latents)
    path.write_bytes(buffer.getvalue())
    return path


# ----------------------------------------------------------------- the paper's network


def test_the_papers_y_hat_sigma_hat_network_is_unchanged():
    """Parameter names, shapes and the shipped stand-in checkpoint (strict load)."""
    state = torch.load(STANDIN, weights_only=True)
    m = state["adapter_y.0.conv1.weight"].shape[1]
    model = models.build_classifier("latent", LatentSpec(m, 16, m), width=0.25)
    assert [n for n, _ in model.named_children()][:3] == ["adapter_y", "adapter_sigma", "layer2"]
    assert model.layer2[0].conv1.in_channels == 2 * 32  # two adapters of 4 x 8 channels
    loaded = model.load_state_dict(state, strict=False)  # the stand-in has no fc
    assert loaded.unexpected_keys == [] and loaded.missing_keys == ["fc.weight", "fc.bias"]
    assert CResNetShapes.of(model) == CResNetShapes.of(models.CResNet39(m, m, width=0.25))


class CResNetShapes:
    @staticmethod
    def of(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
        return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def test_one_adapter_branch_per_declared_tensor_in_spec_order():
    mu = LatentTensor("mu_hat", 5, 16)
    three = models.build_classifier("latent", LatentSpec(6, 16, 4, others=(mu,)), width=0.25)
    assert three.adapter_names == ("adapter_y", "adapter_sigma", "adapter_mu_hat")
    assert [three.adapter_y[0].conv1.in_channels, three.adapter_sigma[0].conv1.in_channels,
            three.adapter_mu_hat[0].conv1.in_channels] == [6, 4, 5]  # fmt: skip
    assert three.layer2[0].conv1.in_channels == 3 * 32
    one = models.build_classifier("latent", LatentSpec(6, 16, 0), width=0.25)
    assert one.adapter_names == ("adapter_y",) and one.layer2[0].conv1.in_channels == 32
    one.eval()
    assert one(torch.zeros(2, 6, 4, 4)).shape == (2, 23)
    # Each branch reads its own channels: changing mu_hat's changes only the output.
    three.eval()
    x = torch.randn(1, 15, 4, 4)
    y = x.clone()
    y[:, 10:] += 1
    with torch.no_grad():
        assert not torch.equal(three(x), three(y))
        assert torch.equal(three.adapter_y(x[:, :6]), three.adapter_y(y[:, :6]))


def test_a_three_tensor_network_starts_as_the_standins_two_tensor_one():
    """From the y_hat + sigma_hat stand-in, a y_hat + sigma_hat + mu_hat cResNet-39 is
    fitted, not left half at random: the mu_hat adapter starts as adapter_y, the fusion
    convolutions read mu_hat's channels with zero weights, so the two networks give the
    same logits whatever mu_hat holds; a y_hat-only one keeps the y_hat channels."""
    state = torch.load(STANDIN, weights_only=True)
    m = state["adapter_y.0.conv1.weight"].shape[1]
    torch.manual_seed(0)
    two = models.build_classifier("latent", LatentSpec(m, 16, m), width=0.25)
    three = models.build_classifier(
        "latent", LatentSpec(m, 16, m, others=(LatentTensor("mu_hat", m, 16),)), width=0.25
    )
    models.init_from_imagenet(two, STANDIN)
    report = models.init_from_imagenet(three, STANDIN)
    assert report.shape_mismatch == [] and report.not_in_checkpoint == []
    assert "layer2.0.conv1.weight" in report.adapted and "adapter_mu_hat.0.conv1.weight" in (
        report.adapted
    )
    assert "fitted to this compressed domain" in report.summary()
    three.fc.load_state_dict(two.fc.state_dict())  # the head is the task's, not the stand-in's
    two.eval()
    three.eval()
    x = torch.randn(2, 2 * m, 4, 4)
    with torch.no_grad():
        expected = two(x)
        for mu in (torch.zeros(2, m, 4, 4), torch.randn(2, m, 4, 4)):
            torch.testing.assert_close(three(torch.cat([x, mu], 1)), expected)
    one = models.build_classifier("latent", LatentSpec(m, 16, 0), width=0.25)
    assert "layer2.0.conv1.weight" in models.init_from_imagenet(one, STANDIN).adapted
    w = state["layer2.0.conv1.weight"]
    assert torch.equal(one.layer2[0].conv1.weight, w[:, : w.shape[1] // 2].float())


# ---------------------------------------------------------------------- the stride


def test_latent_sizes_keep_the_papers_ratio_for_any_stride():
    for name, preset in training.PRESETS.items():
        assert training.latent_preset(name, LatentSpec(8, 16, 8)) == preset
        assert training.latent_preset(name, None) == preset
    sizes = {
        name: (training.latent_preset(name, LatentSpec(8, 8, 0)).latent_resize,
               training.latent_preset(name, LatentSpec(8, 8, 0)).latent_crop)
        for name in training.PRESETS
    }  # fmt: skip
    assert sizes == {"paper": (64, 56), "quick": (32, 28), "smoke": (10, 8)}
    assert training.latent_preset("paper", LatentSpec(8, 32, 8)).latent_crop == 14


def test_a_stride_8_codec_gets_twice_the_latent_resolution_and_its_macs(tmp_path):
    task = make_plugin_manager(False).tasks.get("minc")
    image = synthetic_image(64, 64, seed=2)
    seen = {}
    for stride in (8, 16):
        codec = BlockMean(stride)
        check_codec(codec, 1)
        model = codec.load(1)
        spec = model.latent_spec
        path = _npz(model.latents(model.encode(image)), tmp_path / f"s{stride}.npz")
        batches = {p: task.eval_batch_for([path], "latent", p, spec) for p in ("smoke", "paper")}
        classifier = task.classifier_for("latent", spec, "smoke")
        seen[stride] = (batches, task.classifier_info(classifier, "latent", spec, "smoke"))
    (b8, info8), (b16, info16) = seen[8], seen[16]
    assert b16["smoke"].shape == (1, 3, 4, 4) and b8["smoke"].shape == (1, 3, 8, 8)
    assert b16["paper"].shape == (1, 3, 28, 28) and b8["paper"].shape == (1, 3, 56, 56)
    assert (info16["latent_input"], info8["latent_input"]) == (4, 8)
    assert (info16["input"], info8["input"]) == ("3x4x4", "3x8x8")
    assert info8["params"] == info16["params"]
    # every convolution runs on 4 times the positions; only the fc is the same
    assert 3.5 < info8["macs"] / info16["macs"] <= 4


def test_tensors_of_another_stride_are_resized_to_y_hats_grid():
    y = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    fine = np.ones((1, 8, 8), np.float32)
    fine[:, :4] = 3  # top half 3, bottom half 1
    layout = (("y_hat", 16), ("fine", 8))
    x = training.stack_latents({"y_hat": y, "fine": fine}, layout)
    assert x.shape == (3, 4, 4) and np.array_equal(x[:2], y)
    assert np.allclose(x[2, :2], 3) and np.allclose(x[2, 2:], 1)
    with pytest.raises(DatasetError, match="same h and w"):
        training.stack_latents({"y_hat": y, "fine": fine}, (("y_hat", 16), ("fine", 16)))
    with pytest.raises(DatasetError, match="lack fine .*reads every tensor"):
        training.stack_latents({"y_hat": y}, layout)


# ------------------------------------------------------------------- y_hat only


def test_a_y_hat_only_codec_trains_a_step_and_classifies(tmp_path):
    codec = BlockMean(16)
    model = codec.load(1)
    spec = model.latent_spec
    assert spec.names == ("y_hat",)
    items = []
    for i in range(10):
        latents = model.latents(model.encode(synthetic_image(64, 64, seed=i)))
        items.append((_npz(latents, tmp_path / f"{i}.npz"), i % 3))
    net = models.build_classifier("latent", spec, num_classes=3, width=0.25)
    result = training.train_classifier(
        net, items, "smoke", "latent", tmp_path / "out",
        device="cpu", workers=0, progress=False, limit_batches=1,
    )  # fmt: skip
    assert result.history[0]["loss"] > 0
    scored = training.evaluate(net, items, "smoke", "latent", device="cpu", workers=0)
    assert len(scored.predictions) == 10 and 0 <= scored.top1 <= 1


# ------------------------------------------------------------------- registration


class Malformed(BlockMean):
    def __init__(self, why: str) -> None:
        super().__init__(16)
        self.id = f"malformed-{why}"
        self.why = why

    def latent_spec(self, quality, weights=None):
        if self.why == "name":
            return LatentSpec(3, 16, 0, others=(LatentTensor("mu hat", 3, 16),))
        if self.why == "none":
            return None
        return LatentSpec(3, 16, -1)  # LatentSpec itself refuses this


class MalformedPlugin:
    def __init__(self, why: str) -> None:
        self.why = why

    @hookimpl
    def register_codecs(self, register):
        register(Malformed(self.why))


@pytest.mark.parametrize(
    ("why", "message"),
    [
        ("name", "tensor name 'mu hat' is not a Python identifier"),
        ("channels", "sigma_channels not negative"),
    ],
)
def test_a_malformed_latent_spec_is_refused_when_the_run_is_planned(tiny_minc, why, message):
    plugins = make_plugin_manager(False)
    plugins.pm.register(MalformedPlugin(why), name="malformed")
    config = RunConfig(
        codecs=[f"malformed-{why}"], task="minc", anchors=["compressed"],
        task_options={"dataset": "minc", "data_root": str(tiny_minc)}, preset="smoke",
    )  # fmt: skip
    with pytest.raises(PluginError, match=message) as err:
        make_plan(config, plugins)
    assert f"malformed-{why}/test" in err.value.message and "check_codec" in err.value.message
    # the pixel anchors do not read the compressed domain: nothing to refuse
    make_plan(replace(config, anchors=["anchor2"]), plugins)


def test_a_codec_whose_loaded_model_declares_no_latent_spec_stops_before_encoding(
    tiny_minc, tmp_path
):
    """None before the weights load is allowed (the model may know its channels); a
    model that still has none stops the run before anything is encoded."""
    get_plugins().pm.register(MalformedPlugin("none"), name="malformed")
    config = RunConfig(
        codecs=["malformed-none"], task="minc", anchors=["compressed"], workers=0,
        task_options={"dataset": "minc", "data_root": str(tiny_minc)}, preset="smoke",
    )  # fmt: skip
    make_plan(config, get_plugins())
    with pytest.raises(PluginError, match="malformed-none/test .* is None, also once loaded"):
        run_study(config, out_dir=tmp_path / "run")
    assert not list((tmp_path / "run").rglob("*.jai"))


# ------------------------------------------------------------------- end to end


def test_a_mean_scale_plugin_and_y_hat_only_codecs_run_the_compressed_anchor(tiny_minc, tmp_path):
    """The mean-scale plugin (y_hat, sigma_hat, mu_hat) keeps the codec contract, and a
    smoke run of the compressed anchor trains and evaluates a classifier on it and on
    y_hat-only codecs of strides 8 and 16, recording what each read."""
    check_codec(TinyMeanScale(), 1)
    get_plugins().pm.register(LatentCodecsPlugin(), name="latent-codecs")
    out = tmp_path / "run"
    config = RunConfig(
        codecs=["tiny-meanscale", "blockmean-s8", "blockmean-s16"],
        task="minc",
        task_options={"dataset": "minc", "data_root": str(tiny_minc)},
        qualities=[1],
        anchors=["compressed"],
        preset="smoke",
        workers=0,
    )
    run_study(config, out_dir=out)
    results = pd.read_csv(out / "results.csv").set_index("codec")
    assert list(results.index) == ["tiny-meanscale", "blockmean-s8", "blockmean-s16"]
    assert results["top1"].between(0, 1).all() and (results["n_test"] == 23).all()
    assert (results["onnx_max_abs_diff"] < 1e-3).all()
    assert 3.5 < results.loc["blockmean-s8", "macs"] / results.loc["blockmean-s16", "macs"] <= 4
    run = json.loads((out / "run.json").read_text())
    inputs = {
        name.split("-latents-")[1].split("-test-")[0]: value
        for name, value in run["latent_inputs"].items()
    }
    assert inputs["tiny-meanscale"]["latent_spec"]["others"] == [["mu_hat", 12, 16]]
    assert inputs["tiny-meanscale"]["input"] == "36x4x4"  # y_hat + sigma_hat + mu_hat
    assert (inputs["blockmean-s16"]["latent_input"], inputs["blockmean-s8"]["latent_input"]) == (
        4,
        8,
    )
    assert inputs["blockmean-s8"]["latent_spec"]["sigma_channels"] == 0
    meta = json.loads(
        next((out / "classifiers").glob("latent-latents-tiny-meanscale*/meta.json")).read_text()
    )
    assert meta["latent_input"] == 4 and meta["latent_spec"]["channels"] == 12


def test_the_framework_gives_a_task_the_latent_spec_and_an_older_task_still_runs():
    from tests.test_task_contract import TRAIN_ARGS, Complete

    spec = LatentSpec(3, 8, 0)

    class Current(Complete):
        def train(self, model, items, **given):
            return given

        def eval_batch(self, sources, domain, preset, latent_spec=None):
            return latent_spec

    task = Current()
    given = task.train_for(None, [], **TRAIN_ARGS, seed=0, ddp=False, deterministic=None,
                           latent_spec=spec)  # fmt: skip
    assert given["latent_spec"] is spec
    assert "latent_spec" not in task.train_for(
        None, [], **TRAIN_ARGS, seed=0, ddp=False, deterministic=None
    )  # pixel domain: not given, as before
    assert task.eval_batch_for([], "latent", "smoke", spec) is spec
    with pytest.warns(DeprecationWarning, match=r"eval_batch\(\) does not take latent_spec"):
        assert Complete().eval_batch_for([], "latent", "smoke", spec) is None
