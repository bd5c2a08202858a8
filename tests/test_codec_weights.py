"""Weights: local checkpoints (file and folder), float16 storage, CompressAI's pretrained
file names and the offline error, demo weights, and refusal of wrong files."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch

from jpegai_eval.codecs import weights as w
from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
from jpegai_eval.codecs.testing import synthetic_image, tiny_network, write_tiny_checkpoint
from jpegai_eval.framework.errors import BitstreamError, WeightsError

torch.set_num_threads(1)
MSSSIM = CompressAIHyperprior("ms-ssim")
MSE = CompressAIHyperprior("mse")


def test_checkpoint_file_loads_with_its_config(tmp_path):
    net = write_tiny_checkpoint(tmp_path / "c.pt", quality=2, n=8, m=12)
    model = MSSSIM.load(2, str(tmp_path / "c.pt"))
    assert (model.net.N, model.net.M) == (8, 12)
    assert model.latent_spec.channels == 12
    assert MSSSIM.latent_spec(2, str(tmp_path / "c.pt")).channels == 12
    for key, value in net.state_dict().items():
        assert torch.equal(model.net.state_dict()[key], value), key
    assert model.weights_id == w.weights_id(net)


def test_float16_checkpoint_round_trip_is_deterministic(tmp_path):
    write_tiny_checkpoint(tmp_path / "h.pt", quality=1, half=True)
    a = MSSSIM.load(1, str(tmp_path / "h.pt"))
    b = MSSSIM.load(1, str(tmp_path / "h.pt"))
    assert a.net.g_a[0].weight.dtype == torch.float32
    image = synthetic_image(64, 80, seed=1)
    data = a.encode(image)
    assert b.encode(image) == data
    assert np.array_equal(b.decode(data), a.decode(data))
    full = write_tiny_checkpoint(tmp_path / "f.pt", quality=1, half=False)
    assert w.weights_id(full) != a.weights_id  # float16 rounding changed the weights


def test_folder_holds_one_checkpoint_per_quality(tmp_path):
    write_tiny_checkpoint(tmp_path / "hyperprior-msssim-q1.pt", quality=1, seed=1)
    write_tiny_checkpoint(tmp_path / "q4.pt", quality=4, seed=4)
    m1 = MSSSIM.load(1, str(tmp_path))
    m4 = MSSSIM.load(4, str(tmp_path))
    assert m1.weights_id != m4.weights_id
    data = m1.encode(synthetic_image(64, 64))
    with pytest.raises(BitstreamError):
        m4.decode(data)
    with pytest.raises(WeightsError, match="looked for hyperprior-msssim-q8.pt, q8.pt"):
        MSSSIM.load(8, str(tmp_path))


def test_checkpoint_for_another_quality_or_codec_is_refused(tmp_path):
    write_tiny_checkpoint(tmp_path / "c.pt", quality=2)
    with pytest.raises(WeightsError, match="holds quality 2 .* not quality 3"):
        MSSSIM.load(3, str(tmp_path / "c.pt"))
    with pytest.raises(WeightsError, match="trained for codec hyperprior-msssim"):
        MSE.load(2, str(tmp_path / "c.pt"))


def test_bad_weight_files_are_refused(tmp_path):
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="Cannot read weights file"):
        MSSSIM.load(1, str(tmp_path / "text.pt"))
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not a bmshj2018 scale hyperprior"):
        MSSSIM.load(1, str(tmp_path / "other.pt"))
    state = tiny_network().state_dict()
    del state["g_s.0.weight"]
    torch.save(state, tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match="does not fit"):
        MSSSIM.load(1, str(tmp_path / "missing.pt"))
    with pytest.raises(WeightsError, match="neither 'demo', 'pretrained'"):
        MSSSIM.load(1, str(tmp_path / "nowhere.pt"))


def test_pretrained_uses_compressai_file_names_from_weights_dir(tmp_path):
    name = w.pretrained_filename("hyperprior-msssim", 3)
    assert name == "bmshj2018-hyperprior-ms-ssim-3-92dd7878.pth.tar"
    assert w.pretrained_filename("hyperprior-mse", 8) == "bmshj2018-hyperprior-8-a583f0cf.pth.tar"
    # A bare state dict, as CompressAI's zoo files are (old ParameterList key names).
    state = tiny_network(8, 12, seed=3).state_dict()
    state = {
        k.replace("entropy_bottleneck._matrix", "entropy_bottleneck._matrices."): v
        for k, v in state.items()
    }
    torch.save(state, tmp_path / name)
    model = MSSSIM.load(3, "pretrained", weights_dir=tmp_path)
    assert model.net.M == 12
    assert model.source == str(tmp_path / name)


def test_pretrained_offline_names_file_folder_and_url(tmp_path, monkeypatch):
    def offline(url, path):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(w, "download", offline)
    with pytest.raises(WeightsError) as info:
        MSE.load(1, "pretrained", weights_dir=tmp_path)
    message = info.value.message
    assert "bmshj2018-hyperprior-1-7eb97409.pth.tar" in message
    assert str(tmp_path) in message
    assert "https://compressai.s3.amazonaws.com/models/v1/bmshj2018-hyperprior-1-7eb97409" in (
        message
    )
    monkeypatch.setenv(w.WEIGHTS_DIR_ENV, str(tmp_path / "env"))
    assert w.pretrained_folder() == tmp_path / "env"


def test_download_checks_the_hash_prefix(tmp_path, monkeypatch):
    source = tmp_path / "src.bin"
    source.write_bytes(b"hello")
    target = tmp_path / "out" / "model-1-deadbeef.pth.tar"
    with pytest.raises(ValueError, match="SHA-256"):
        w.download(source.as_uri(), target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_demo_weights_missing_quality_says_which_exist(monkeypatch):
    manifest = w.demo_manifest()
    partial = dict(manifest, qualities={k: manifest["qualities"][k] for k in ("1", "4", "8")})
    monkeypatch.setattr(w, "demo_manifest", lambda codec_id="hyperprior-msssim": partial)
    with pytest.raises(WeightsError, match="No demo weights .* quality 2") as info:
        MSSSIM.load(2)
    assert "demo weights exist for qualities 1, 4, 8 only" in info.value.message
    assert "--weights pretrained" in info.value.message
    assert w.demo_qualities("hyperprior-mse") == []


def test_demo_weights_are_the_default_and_ordered():
    have = w.demo_qualities("hyperprior-msssim")
    assert have == list(range(1, 9))  # the whole ladder ships
    image = synthetic_image(128, 128, seed=9)
    from jpegai_eval.framework.quality.metrics import psnr

    rates, fidelity = [], []
    for q in have:
        model = MSSSIM.load(q)  # the default is "demo"
        assert model.source.endswith(f"hyperprior-msssim-q{q}.pt")
        n, m = w.demo_config("hyperprior-msssim", q)
        assert (model.net.N, model.net.M) == (n, m)
        assert MSSSIM.latent_spec(q).channels == m
        data = model.encode(image)
        rates.append(len(data))
        fidelity.append(psnr(image, model.decode(data)))
    assert rates == sorted(rates) and len(set(rates)) == len(have)
    assert fidelity == sorted(fidelity)


def test_demo_manifest_matches_the_shipped_files():
    import hashlib

    manifest = w.demo_manifest()
    for q, entry in manifest["qualities"].items():
        path = w.DEMO_DIR / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], q
        assert path.stat().st_size <= 3_000_000  # shipped checkpoints stay small (issue 14)
    assert (w.DEMO_DIR / "MODEL_CARD.md").is_file() or not manifest["qualities"]
