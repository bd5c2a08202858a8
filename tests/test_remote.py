import hashlib

from jpegai_eval.framework.io.remote import RemoteFile, torch_hub_checkpoints
from jpegai_eval.tasks.imagenet import VARIANTS, imagenet_file


def test_torch_hub_folder_follows_torch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert torch_hub_checkpoints() == tmp_path / "hub" / "checkpoints"
    import torch.hub

    assert (
        torch_hub_checkpoints() == __import__("pathlib").Path(torch.hub.get_dir()) / "checkpoints"
    )


def test_verify_checks_the_hash_prefix_in_the_name(tmp_path):
    data = b"weights"
    prefix = hashlib.sha256(data).hexdigest()[:8]
    good = RemoteFile(f"model-{prefix}.pth", tmp_path, "http://x", "test")
    assert good.sha256_prefix == prefix
    assert good.verify() == "missing"
    good.path.write_bytes(data)
    assert good.verify() is None
    good.path.write_bytes(b"other")
    assert "does not start with" in good.verify()


def test_imagenet_v1_is_torchvisions_file(tmp_path):
    f = imagenet_file(folder=tmp_path)
    assert f.name == "resnet50-0676ba61.pth" and f.sha256_prefix == "0676ba61"
    from torchvision.models import ResNet50_Weights

    for variant, (name, url) in VARIANTS.items():
        assert getattr(ResNet50_Weights, variant).url == url
        assert url.endswith(name)
