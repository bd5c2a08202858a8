"""ResNet-50 (deep stem) and cResNet-39: structure, sizes, ImageNet initialisation."""

from __future__ import annotations

import re

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from jpegai_eval.framework.api.types import LatentSpec
from jpegai_eval.framework.errors import UsageError, WeightsError
from jpegai_eval.tasks import cli as task_cli
from jpegai_eval.tasks import models
from jpegai_eval.tasks.minc import MincTask

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def imagenet_checkpoint(tmp_path_factory):
    """A torchvision ResNet-50 state dict (random weights) saved like the real one."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    return path


def test_resnet50_deep_stem_matches_table_1():
    m = models.ResNet50DeepStem()
    convs = [c for c in m.stem if isinstance(c, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 64, (3, 3)),
        (64, 64, (3, 3)),
        (64, 128, (3, 3)),
    ]
    assert isinstance(m.stem[-1], nn.MaxPool2d) and m.stem[-1].kernel_size == 3
    assert [len(layer) for layer in (m.layer1, m.layer2, m.layer3, m.layer4)] == [3, 4, 6, 3]
    c = models.complexity(m, (3, 64, 64))
    assert 23.5e6 <= c.parameters <= 25e6
    assert c.main_path_convs == 3 + 48  # stem + 16 bottlenecks x 3
    m.eval()
    with torch.no_grad():
        assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 23)


def test_cresnet39_structure_and_resolution():
    m = models.CResNet39(y_channels=6, sigma_channels=4)
    assert models.cresnet_backbone_convs(m) == 39
    assert m.adapter_y[0].conv1.in_channels == 6 and m.adapter_sigma[0].conv1.in_channels == 4
    assert m.adapter_y[0].conv1.out_channels == 32 and m.adapter_y[0].conv3.out_channels == 128
    assert m.layer2[0].conv1.in_channels == 256
    sizes = {}
    for name in ("layer2", "layer3", "layer4"):
        getattr(m, name).register_forward_hook(
            lambda _m, _i, out, name=name: sizes.__setitem__(name, tuple(out.shape[1:]))
        )
    m.eval()
    with torch.no_grad():
        out = m(torch.zeros(2, 10, 28, 28))
    assert out.shape == (2, 23)
    # conv3_x runs at the latent's 28x28, as ResNet-50's conv3_x does on 224x224 images
    assert sizes == {"layer2": (512, 28, 28), "layer3": (1024, 14, 14), "layer4": (2048, 7, 7)}


def test_cresnet39_uses_sigma_hat():
    torch.manual_seed(0)
    m = models.CResNet39(4, 4).eval()
    x = torch.randn(1, 8, 8, 8)
    x2 = x.clone()
    x2[:, 4:] += 1.0
    with torch.no_grad():
        for bn in (m.adapter_sigma[0].bn3,):  # let the sigma branch reach the output
            bn.weight.fill_(1.0)
        assert not torch.allclose(m(x), m(x2))


def test_build_classifier_by_domain():
    task = MincTask()
    assert isinstance(task.build_classifier("pixel"), models.ResNet50DeepStem)
    latent = task.build_classifier("latent", LatentSpec(192, 16, 192))
    assert isinstance(latent, models.CResNet39) and latent.y_channels == 192
    with pytest.raises(UsageError, match="LatentSpec"):
        task.build_classifier("latent")
    with pytest.raises(UsageError, match="domain"):
        task.build_classifier("voxel")


def test_complexity_counts_macs_exactly():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    c = models.complexity(m, (3, 4, 4))
    assert c.macs == 8 * 4 * 4 * 3 * 9 + 128 * 5
    assert c.parameters == (3 * 8 * 9 + 8) + (128 * 5 + 5)


def test_imagenet_init_resnet50(imagenet_checkpoint):
    source = torch.load(imagenet_checkpoint, weights_only=True)
    m = models.ResNet50DeepStem()
    stem_before = m.stem[0].weight.clone()
    report = models.init_from_imagenet(m, imagenet_checkpoint)
    assert torch.equal(m.layer3[2].conv2.weight, source["layer3.2.conv2.weight"])
    assert torch.equal(m.stem[0].weight, stem_before)  # deep stem: not in the checkpoint
    assert "stem.0.weight" in report.not_in_checkpoint
    assert set(report.shape_mismatch) == {
        "layer1.0.conv1.weight",
        "layer1.0.downsample.0.weight",
        "fc.weight",
        "fc.bias",
    }
    assert report.as_dict()["init"] == "imagenet" and "left at their" in report.summary()


def test_imagenet_init_cresnet39_takes_conv3_to_conv5(imagenet_checkpoint):
    source = torch.load(imagenet_checkpoint, weights_only=True)
    m = models.CResNet39(8, 8)
    adapter_before = m.adapter_y[0].conv1.weight.clone()
    report = models.init_from_imagenet(m, imagenet_checkpoint)
    assert torch.equal(m.layer2[0].conv2.weight, source["layer2.0.conv2.weight"])
    assert torch.equal(m.layer4[2].bn3.running_var, source["layer4.2.bn3.running_var"])
    assert torch.equal(m.adapter_y[0].conv1.weight, adapter_before)
    assert report.shape_mismatch == [] and report.loaded > 200


def test_imagenet_init_errors_and_scratch(tmp_path):
    assert models.init_from_imagenet(models.CResNet39(2, 2), None).source == "scratch"
    with pytest.raises(WeightsError, match="download.pytorch.org"):
        models.init_from_imagenet(models.CResNet39(2, 2), tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="Cannot read"):
        models.init_from_imagenet(models.CResNet39(2, 2), bad)
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(3)}, other)
    with pytest.raises(WeightsError, match="No tensor"):
        models.init_from_imagenet(models.CResNet39(2, 2), other)


class _FakeCodec:
    key = "fake/test"
    qualities = (1, 2, 3)

    def check_quality(self, q):
        if q not in self.qualities:
            raise UsageError(f"no quality {q}")
        return q

    def latent_spec(self, q):
        return LatentSpec(8 if q < 3 else 16, 16, 8 if q < 3 else 16)


class _FakeTasks:
    def get(self, name):
        return MincTask()

    def __contains__(self, name):
        return name == "minc"

    def __iter__(self):
        return iter([MincTask()])


class _FakePlugins:
    tasks = _FakeTasks()

    class codecs:  # noqa: N801
        @staticmethod
        def resolve(codec_id, backend=None):
            return _FakeCodec()


def test_task_info_cli(monkeypatch):
    monkeypatch.setattr("jpegai_eval.framework.api.plugins.get_plugins", lambda: _FakePlugins)
    result = CliRunner().invoke(task_cli.task_group, ["info", "minc", "--preset", "quick"])
    assert result.exit_code == 0, result.output
    # quick: Table 1's ResNet-50 at a quarter of its width on 112-pixel crops
    assert re.search(r"ResNet-50 +pixel +3x112x112 +1\.50 M +89\.44 MMAC", result.output)
    assert "384x14x14" in result.output and "640x14x14" in result.output  # M=192 and M=320
    assert "39 convolution layers" in result.output
    result = CliRunner().invoke(
        task_cli.task_group, ["info", "minc", "--codec", "fake", "--preset", "quick"]
    )
    assert result.exit_code == 0, result.output
    assert "16x14x14" in result.output and "fake/test quality 1-2 (M=8)" in result.output
    assert "32x14x14" in result.output and "quality 3 (M=16)" in result.output
    result = CliRunner().invoke(task_cli.task_group, ["info", "minc", "--quality", "3"])
    assert isinstance(result.exception, UsageError)
