"""``codec train``: CompressAI's RD loss on a tiny model, checkpoints, resume, and that
the output loads through --weights like any checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.codecs.cli import codec_group
from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
from jpegai_eval.codecs.testing import synthetic_image
from jpegai_eval.codecs.training import dataset_images, scaled_config, state_path
from jpegai_eval.framework.errors import DatasetError


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs" / "sub"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(synthetic_image(64, 80, seed=i)).save(folder / f"{i}.png")
    return tmp_path / "imgs"


def train_args(images, out, steps, *extra):
    return [
        "train",
        "--codec",
        "hyperprior-msssim",
        "--quality",
        "2",
        "--data",
        str(images),
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--patch",
        "64",
        "--batch",
        "2",
        "--config-scale",
        "0.0625",
        "--checkpoint-every",
        "2",
        "--no-progress",
        *extra,
    ]


def test_train_resume_and_load(tmp_path, images):
    torch.set_num_threads(1)
    out = tmp_path / "ckpt" / "q2.pt"
    result = CliRunner().invoke(codec_group, train_args(images, out, 2))
    assert result.exit_code == 0, result.output
    state = torch.load(state_path(out), weights_only=True)
    assert state["step"] == 2
    first = torch.load(out, weights_only=True)
    assert first["meta"]["steps"] == 2 and first["meta"]["lmbda"] == 4.58
    assert (first["meta"]["N"], first["meta"]["M"]) == scaled_config(2, 0.0625) == (8, 12)

    result = CliRunner().invoke(codec_group, train_args(images, out, 4))
    assert result.exit_code == 0, result.output
    assert torch.load(state_path(out), weights_only=True)["step"] == 4
    meta = json.loads(result.output[result.output.index("{") :])
    assert meta["steps"] == 4

    model = CompressAIHyperprior("ms-ssim").load(2, str(out))
    image = synthetic_image(64, 64)
    assert model.decode(model.encode(image)).shape == (64, 64, 3)

    changed = CliRunner().invoke(codec_group, train_args(images, out, 6, "--lr", "0.001"))
    assert changed.exit_code == 2 and "other settings" in changed.output


def test_minc_layout_uses_train_split(tmp_path):
    (tmp_path / "images" / "brick").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    for name in ("a", "b"):
        Image.fromarray(synthetic_image(64, 64)).save(tmp_path / "images" / "brick" / f"{name}.jpg")
    (tmp_path / "labels" / "train1.txt").write_text("images/brick/a.jpg\n")
    (tmp_path / "labels" / "test1.txt").write_text("images/brick/b.jpg\n")
    assert dataset_images(tmp_path, "train") == [tmp_path / "images/brick/a.jpg"]
    assert dataset_images(tmp_path, "test") == [tmp_path / "images/brick/b.jpg"]
    with pytest.raises(DatasetError, match="no labels/validate1.txt"):
        dataset_images(tmp_path, "validate")


def test_bad_training_options_are_clear(tmp_path, images):
    result = CliRunner().invoke(codec_group, train_args(tmp_path / "none", tmp_path / "o.pt", 1))
    assert result.exit_code == 1 and "does not exist" in result.output
    args = train_args(images, tmp_path / "o.pt", 1)
    args[args.index("--patch") + 1] = "96"
    result = CliRunner().invoke(codec_group, args)
    assert result.exit_code == 2 and "multiple of 64" in result.output
    assert not (tmp_path / "o.pt").exists()


def test_explicit_shape_and_init_fine_tunes_from_a_checkpoint(tmp_path, images):
    torch.set_num_threads(1)
    base = tmp_path / "base.pt"
    shape = ["--N", "8", "--M", "16"]
    result = CliRunner().invoke(codec_group, train_args(images, base, 2, *shape))
    assert result.exit_code == 0, result.output
    meta = torch.load(base, weights_only=True)["meta"]
    assert (meta["N"], meta["M"]) == (8, 16)  # not the zoo's (8, 12) at this scale

    base_model = CompressAIHyperprior("ms-ssim").load(2, str(base))
    tuned = tmp_path / "tuned.pt"
    # lr 0: a fine-tune that cannot move the network keeps the --init weights exactly.
    args = train_args(images, tuned, 1, *shape, "--init", str(base), "--lr", "0")
    result = CliRunner().invoke(codec_group, args)
    assert result.exit_code == 0, result.output
    tuned_meta = torch.load(tuned, weights_only=True)["meta"]
    assert tuned_meta["init_weights_id"] == base_model.weights_id.hex()
    a = torch.load(base, weights_only=True)["state_dict"]
    b = torch.load(tuned, weights_only=True)["state_dict"]
    assert torch.equal(a["g_a.0.weight"], b["g_a.0.weight"])
    assert torch.equal(a["h_s.4.weight"], b["h_s.4.weight"])

    wrong = train_args(images, tmp_path / "w.pt", 1, "--N", "8", "--M", "24", "--init", str(base))
    result = CliRunner().invoke(codec_group, wrong)
    assert result.exit_code == 2 and "N=8, M=16" in result.output and "--M 16" in result.output


def test_several_data_folders_share_the_patches(tmp_path):
    from jpegai_eval.codecs.training import PatchSampler

    few, many = tmp_path / "few", tmp_path / "many"
    few.mkdir()
    many.mkdir()
    Image.new("RGB", (64, 64), (255, 255, 255)).save(few / "white.png")
    for i in range(9):
        Image.new("RGB", (64, 64), (0, 0, 0)).save(many / f"black{i}.png")
    sources = [dataset_images(few), dataset_images(many)]
    sampler = PatchSampler(sources, 64, torch.Generator().manual_seed(0))
    white = float((sampler.batch(400).mean(dim=(1, 2, 3)) > 0.5).float().mean())
    assert 0.4 < white < 0.6  # one image of ten, but half of the patches


def test_a_non_finite_loss_is_skipped_not_applied(tmp_path, images, monkeypatch):
    from jpegai_eval.codecs import training

    torch.set_num_threads(1)
    real = training.rd_loss
    calls = {"n": 0}

    def sometimes_nan(out, x, lmbda, metric):
        calls["n"] += 1
        losses = real(out, x, lmbda, metric)
        if calls["n"] == 2:  # what MS-SSIM does at high lambda once in a while
            losses["loss"] = losses["loss"] * float("nan")
        return losses

    monkeypatch.setattr(training, "rd_loss", sometimes_nan)
    out = tmp_path / "q2.pt"
    result = CliRunner().invoke(codec_group, train_args(images, out, 4))
    assert result.exit_code == 0, result.output
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["meta"]["skipped_nonfinite_steps"] == 1
    assert all(torch.isfinite(v.float()).all() for v in ckpt["state_dict"].values() if v.numel())

    monkeypatch.setattr(training, "rd_loss", lambda *a: {"loss": torch.tensor(float("nan"))})
    result = CliRunner().invoke(codec_group, train_args(images, tmp_path / "x.pt", 40))
    assert result.exit_code == 2 and "diverged" in result.output


def test_one_codec_training_step_updates_the_network(tmp_path, images):
    """CodecTrainer.step: ONE optimisation step on a batch (what ``bench`` times)."""
    from jpegai_eval.codecs import training

    torch.set_num_threads(1)
    cfg = training.TrainConfig(
        "hyperprior-msssim",
        2,
        (images,),
        tmp_path / "q.pt",
        patch=64,
        batch=2,
        config_scale=0.0625,
        progress=False,
    )
    trainer = training.CodecTrainer(cfg)
    before = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    losses = trainer.step(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert losses is not None and {"loss", "bpp_loss", "ms_ssim", "aux"} <= set(losses)
    after = trainer.net.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("g_a.") for k in changed) and any("quantiles" in k for k in changed)
    assert not cfg.out.exists()  # a step writes nothing
