"""CompressAI's image zoo built in (codecs/compressai_zoo.py), on tiny random networks:
the contract on every family, decode equal to CompressAI's own decompress, the latents
each family declares read without g_s, the ids and aliases, weights (any N/M,
pretrained file names, offline errors) and ``codec train`` for a zoo family."""

from __future__ import annotations

import json
import urllib.error
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.cli.listing import plugins_command
from jpegai_eval.codecs import weights as w
from jpegai_eval.codecs.compressai_hyperprior import to_uint8
from jpegai_eval.codecs.compressai_zoo import FAMILIES, CompressAIZoo, ZooHyperprior
from jpegai_eval.codecs.testing import (
    synthetic_image,
    tiny_zoo_network,
    write_tiny_checkpoint,
    write_tiny_zoo_checkpoint,
)
from jpegai_eval.codecs.training import config_from_options, train
from jpegai_eval.framework.api.plugins import get_plugins
from jpegai_eval.framework.api.registry import CodecRegistry
from jpegai_eval.framework.errors import DuplicateIdError, UsageError, WeightsError
from jpegai_eval.testing import check_codec

torch.set_num_threads(1)

#: (family, metric) checked: each family once, both metrics among them.
CHECKED = [
    ("bmshj2018-factorized", "mse"),
    ("bmshj2018-hyperprior", "ms-ssim"),
    ("mbt2018-mean", "ms-ssim"),
    ("mbt2018", "mse"),
    ("cheng2020-anchor", "ms-ssim"),
    ("cheng2020-attn", "mse"),
]


def zoo_codec(family: str, metric: str = "ms-ssim"):
    return get_plugins().codecs.resolve(f"{family}-{'msssim' if metric == 'ms-ssim' else 'mse'}")


def tiny_checkpoint(tmp_path, codec):
    path = tmp_path / f"{codec.id}.pt"
    if isinstance(codec, ZooHyperprior):
        write_tiny_checkpoint(path, codec.id, quality=None, n=8, m=12)
    else:
        write_tiny_zoo_checkpoint(path, codec, n=8, m=12)
    return str(path)


@pytest.mark.parametrize(("family", "metric"), CHECKED)
def test_every_family_keeps_the_contract(tmp_path, family, metric):
    codec = zoo_codec(family, metric)
    report = check_codec(codec, 2, tiny_checkpoint(tmp_path, codec))
    assert {"model.net.g_s", "model.net.g_a"} <= set(report.guarded)
    m = 8 if family.startswith("cheng2020") else 12
    assert report.latent_shape == (m, 5, 6)  # the kit's 72 x 88 image, cropped


def test_plugins_json_lists_the_six_families_with_backend_compressai():
    result = CliRunner().invoke(plugins_command, ["--json"])
    assert result.exit_code == 0, result.output
    codecs = {(c["id"], c["backend"]): c for c in json.loads(result.output)["codecs"]}
    for family in FAMILIES:
        msssim = codecs[(f"{family}-msssim", "compressai")]
        mse = codecs[(f"{family}-mse", "compressai")]
        assert msssim["aliases"] == [family] and mse["aliases"] == []
        assert msssim["compressed_domain"] and msssim["available"]
        assert msssim["qualities"] == list(range(1, 7 if "cheng" in family else 9))
    # The study's hyperprior ids are untouched.
    assert codecs[("hyperprior-msssim", "compressai")]["aliases"] == []


def test_the_bare_zoo_name_is_the_msssim_codec(tmp_path):
    codecs = get_plugins().codecs
    for family in FAMILIES:
        codec = codecs.resolve(family)
        assert codec.id == f"{family}-msssim" and codec.metric == "ms-ssim"
    assert codecs.resolve("mbt2018-mean", "compressai").id == "mbt2018-mean-msssim"
    # --weights KEY=VALUE takes the alias as a key, and the plan names the full id.
    from jpegai_eval.framework.run.plan import RunConfig, make_plan

    weights = "mbt2018-mean=/a,compressai=pretrained"
    cfg = RunConfig(codecs=["mbt2018-mean", "mbt2018"], task="minc", weights=weights)
    assert cfg.weights_for(codecs.resolve("mbt2018-mean")) == "/a"
    assert cfg.weights_for(codecs.resolve("mbt2018")) == "pretrained"
    # Planning reads a --weights file (its latent layout): a real checkpoint here.
    checkpoint = tiny_checkpoint(tmp_path, codecs.resolve("mbt2018-mean"))
    cfg = RunConfig(
        codecs=["mbt2018-mean", "mbt2018"],
        task="minc",
        weights=f"mbt2018-mean={checkpoint},compressai=pretrained",
    )
    plan = make_plan(cfg, get_plugins())
    assert [p.codec.id for p in plan.codecs] == ["mbt2018-mean-msssim", "mbt2018-msssim"]
    registry = CodecRegistry()
    registry.add(CompressAIZoo("mbt2018", "ms-ssim"), "a")
    clash = CompressAIZoo("mbt2018", "mse")
    clash.aliases = ("mbt2018",)
    with pytest.raises(DuplicateIdError, match="alias 'mbt2018'"):
        registry.add(clash, "b")


@pytest.mark.parametrize("family", FAMILIES)
def test_decode_is_compressais_decompress(family):
    codec = zoo_codec(family)
    net = tiny_zoo_network(codec, seed=1)
    model = codec.from_network(3, net)
    image = synthetic_image(70, 130, seed=2)
    decoded = model.decode(model.encode(image))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = net.compress(model.to_input(image))
        x_hat = net.decompress(ref["strings"], ref["shape"])["x_hat"]
    assert np.array_equal(decoded, to_uint8(x_hat[0, :, :70, :130]))


class _Forbidden(torch.nn.Module):
    def forward(self, x):
        raise AssertionError("g_s must not run on the latents path")


@pytest.mark.parametrize("family", FAMILIES)
def test_latents_never_run_g_s(family):
    model = zoo_codec(family).from_network(3, tiny_zoo_network(zoo_codec(family)))
    data = model.encode(synthetic_image(64, 64, seed=4))
    expected = model.latents(data)
    model.net.g_s = _Forbidden()
    got = model.latents(data)
    assert list(got) == list(model.latent_spec.names)
    for name in got:
        assert np.array_equal(got[name], expected[name])
    with pytest.raises(AssertionError, match="must not run"):
        model.decode(data)  # proves the replacement is live


def test_mean_scale_latents_hold_y_hat_mu_hat_sigma_hat(tmp_path):
    codec = zoo_codec("mbt2018-mean")
    model = codec.load(4, tiny_checkpoint(tmp_path, codec))
    data = model.encode(synthetic_image(64, 80, seed=5))
    latents = model.latents(data)
    assert set(latents) == {"y_hat", "sigma_hat", "mu_hat"}
    assert all(v.shape == (12, 4, 5) and v.dtype == np.float32 for v in latents.values())
    # y_hat = integer symbols + mu_hat: mu_hat is the mean the entropy coder used.
    offset = latents["y_hat"] - latents["mu_hat"]
    np.testing.assert_allclose(offset, np.round(offset), atol=1e-5)
    # sigma_hat and mu_hat are h_s's two halves (scales_hat, means_hat, CompressAI's
    # names; the coder bounds the scale below), cropped to the image.
    image = synthetic_image(64, 80, seed=5)
    with torch.no_grad():
        net = model.net
        z = net.h_a(net.g_a(model.to_input(image)))
        z_hat = net.entropy_bottleneck.decompress(net.entropy_bottleneck.compress(z), (1, 2))
        scales, means = net.h_s(z_hat).chunk(2, 1)
    np.testing.assert_allclose(latents["sigma_hat"], scales[0, :, :4, :5].numpy(), atol=1e-6)
    np.testing.assert_allclose(latents["mu_hat"], means[0, :, :4, :5].numpy(), atol=1e-6)
    assert np.any(latents["mu_hat"] != 0)
    spec = codec.latent_spec(4, tiny_checkpoint(tmp_path, codec))
    assert spec.names == ("y_hat", "sigma_hat", "mu_hat") and spec.total_channels == 36


@pytest.mark.parametrize("family", ["mbt2018", "cheng2020-anchor"])
def test_autoregressive_latents_are_the_means_and_scales_that_coded_y(family):
    codec = zoo_codec(family)
    net = tiny_zoo_network(codec, seed=3)
    model = codec.from_network(2, net)
    image = synthetic_image(64, 64, seed=6)
    latents = model.latents(model.encode(image))
    offset = latents["y_hat"] - latents["mu_hat"]
    np.testing.assert_allclose(offset, np.round(offset), atol=1e-5)
    # The serial decode's maps are what the training-time (parallel) context model
    # gives on the final y_hat: each position sees only the positions before it.
    with torch.no_grad():
        z = net.h_a(net.g_a(model.to_input(image)))
        z_hat = net.entropy_bottleneck.decompress(net.entropy_bottleneck.compress(z), (1, 1))
        y_hat = torch.from_numpy(latents["y_hat"])[None]
        params = net.entropy_parameters(
            torch.cat((net.h_s(z_hat), net.context_prediction(y_hat)), 1)
        )
    scales, means = params.chunk(2, 1)
    np.testing.assert_allclose(latents["sigma_hat"], scales[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(latents["mu_hat"], means[0].numpy(), atol=1e-5)


def test_factorized_latents_are_y_hat_only(tmp_path):
    codec = zoo_codec("bmshj2018-factorized", "mse")
    model = codec.load(1, tiny_checkpoint(tmp_path, codec))
    latents = model.latents(model.encode(synthetic_image(64, 64, seed=7)))
    assert list(latents) == ["y_hat"]
    assert latents["y_hat"].shape == (12, 4, 4)
    assert np.array_equal(latents["y_hat"], np.round(latents["y_hat"]))  # medians are 0
    spec = codec.latent_spec(1, tiny_checkpoint(tmp_path, codec))
    assert (spec.sigma_channels, spec.names) == (0, ("y_hat",))


def test_weights_of_any_n_m_and_a_bare_state_dict_load(tmp_path):
    codec = zoo_codec("mbt2018-mean", "mse")
    net = tiny_zoo_network(codec, n=16, m=10, seed=2)
    torch.save(net.state_dict(), tmp_path / "bare.pth")  # CompressAI's zoo format
    model = codec.load(5, str(tmp_path / "bare.pth"))
    assert (model.net.N, model.net.M) == (16, 10)
    assert codec.config(5, str(tmp_path / "bare.pth")) == (16, 10)
    assert model.weights_id == w.weights_id(net)
    other = zoo_codec("mbt2018", "mse")
    with pytest.raises(WeightsError, match="holds a CompressAI mbt2018-mean network"):
        other.load(5, tiny_checkpoint(tmp_path, codec))
    with pytest.raises(WeightsError, match="not a CompressAI mbt2018 network"):
        other.load(5, str(tmp_path / "bare.pth"))  # no context model in it
    with pytest.raises(WeightsError, match="No demo weights for mbt2018-mse"):
        other.load(5, "demo")


def test_pretrained_uses_the_zoo_files_and_names_them_offline(tmp_path, monkeypatch):
    codec = zoo_codec("mbt2018-mean")
    (file,) = codec.remote_files(3, "pretrained", tmp_path)
    assert file.name == "mbt2018-mean-ms-ssim-3-640ce819.pth.tar"
    assert file.url.endswith("/models/v1/mbt2018-mean-ms-ssim-3-640ce819.pth.tar")
    assert codec.remote_files(3, str(tmp_path), tmp_path) == []
    net = tiny_zoo_network(codec, seed=5)
    torch.save(net.state_dict(), tmp_path / file.name)
    assert codec.load(3, "pretrained", weights_dir=tmp_path).weights_id == w.weights_id(net)

    def offline(url, path):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(w, "download", offline)
    cheng = zoo_codec("cheng2020-attn", "mse")
    with pytest.raises(WeightsError) as info:
        cheng.load(6, "pretrained", weights_dir=tmp_path)
    name = w.pretrained_filename(cheng.id, 6, "cheng2020-attn")
    assert name == "cheng2020_attn-mse-6-730501f2.pth.tar"
    assert name in info.value.message and str(tmp_path) in info.value.message
    with pytest.raises(UsageError, match="has cheng2020-attn at qualities 1-6 only"):
        cheng.load(7, "pretrained", weights_dir=tmp_path)


def test_codec_train_trains_a_zoo_family_that_weights_path_loads(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_image(64, 64, seed=i)).save(folder / f"{i}.png")
    out = tmp_path / "factorized-q3.pt"
    cfg = config_from_options(
        codec_id="bmshj2018-factorized",  # the alias: trains the ms-ssim codec
        quality=3,
        data=[str(folder)],
        out=str(out),
        steps=2,
        patch=64,
        batch=2,
        n=8,
        m=8,
        checkpoint_every=2,
        progress=False,
    )
    meta = train(cfg)
    assert meta["codec"] == "bmshj2018-factorized-msssim" and meta["lmbda"] == 8.73
    saved = torch.load(out, weights_only=True)["meta"]
    assert (saved["architecture"], saved["N"], saved["M"]) == ("bmshj2018-factorized", 8, 8)
    codec = zoo_codec("bmshj2018-factorized")
    model = codec.load(3, str(out))
    assert model.latent_spec.names == ("y_hat",)
    image = synthetic_image(64, 64, seed=3)
    assert model.decode(model.encode(image)).shape == (64, 64, 3)
    with pytest.raises(WeightsError, match="trained for codec bmshj2018-factorized-msssim"):
        zoo_codec("bmshj2018-factorized", "mse").load(3, str(out))


class _TinyPluginCodec(CompressAIZoo):
    """A plugin's codec around a CompressAI network: what ``codec train`` needs is its
    metric, lmbda, training_config and network (here a factorized prior)."""

    def __init__(self):
        super().__init__("bmshj2018-factorized", "mse")
        self.id, self.aliases, self.family = "tiny-plugin", (), None  # no zoo family
        self.backend = "my-backend"

    def lmbda(self, quality):
        return 0.01

    def training_config(self, quality):
        return (8, 8)

    def network(self, n, m):
        from compressai.models import FactorizedPrior

        return FactorizedPrior(n, m)


def test_codec_train_trains_a_plugin_codec_exposing_a_compressai_network(tmp_path):
    from jpegai_eval import hookimpl

    class Plugin:
        @hookimpl
        def register_codecs(self, register):
            register(_TinyPluginCodec())

    get_plugins().pm.register(Plugin(), name="tiny-plugin")
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(synthetic_image(64, 64)).save(folder / "a.png")
    out = tmp_path / "plugin.pt"
    options = dict(codec_id="tiny-plugin", quality=1, data=[str(folder)], out=str(out))
    meta = train(config_from_options(**options, steps=1, patch=64, batch=1, progress=False))
    assert (meta["codec"], meta["lmbda"], meta["architecture"]) == (
        "tiny-plugin",
        0.01,
        "tiny-plugin",
    )
    saved = torch.load(out, weights_only=True)
    assert (saved["meta"]["N"], saved["meta"]["M"]) == (8, 8)
    assert "g_a.6.weight" in saved["state_dict"]
    with pytest.raises(UsageError, match="cannot be trained by `codec train`.*Trainable codecs:"):
        train(config_from_options(**dict(options, codec_id="jpeg")))


@pytest.mark.parametrize("family", ["mbt2018-mean", "mbt2018"])
def test_a_crafted_string_in_a_valid_container_decodes_or_is_refused(family):
    from jpegai_eval.framework.api.bitstream import pack, pack_strings, unpack, unpack_strings
    from jpegai_eval.framework.errors import BitstreamError

    codec = zoo_codec(family)
    model = codec.from_network(1, tiny_zoo_network(codec))
    header, payload = unpack(model.encode(synthetic_image(64, 64)))
    y, z = unpack_strings(payload)
    rng = np.random.default_rng(0)
    refused = 0
    for crafted in (b"\xff" * len(y), rng.bytes(len(y)), rng.bytes(3 * len(y)), y[:-5]):
        data = pack(header, pack_strings([crafted, z]))  # a valid container, CRC and all
        try:
            image, latents = model.decode(data), model.latents(data)
        except BitstreamError:
            refused += 1
            continue
        # The AR families read the y string with CompressAI's decoder, which cannot tell
        # a crafted string from a real one: it decodes, within bounds, to some image.
        assert image.shape == (64, 64, 3) and all(np.isfinite(v).all() for v in latents.values())
    if family == "mbt2018-mean":  # the compiled decoder checks every string
        assert refused == 4


# ------------------------------------------------------------------- end to end


def test_codec_train_cli_takes_any_family_and_checks_its_qualities(tmp_path):
    from jpegai_eval.codecs.cli import codec_group

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(synthetic_image(64, 64, seed=0)).save(folder / "0.png")
    common = ["--data", str(folder), "--steps", "1", "--patch", "64", "--batch", "1"]
    common += ["--N", "8", "--M", "8", "--no-progress"]
    refused = CliRunner().invoke(
        codec_group,
        ["train", "--codec", "cheng2020-anchor", "--quality", "7"]
        + ["--out", str(tmp_path / "c.pt"), *common],
    )
    assert refused.exit_code != 0
    assert "cheng2020-anchor-msssim/compressai has no quality 7; its qualities are 1-6" in (
        refused.output
    )
    assert not (tmp_path / "c.pt").exists()
    out = tmp_path / "f.pt"
    done = CliRunner().invoke(
        codec_group,
        ["train", "--codec", "bmshj2018-factorized-mse", "--quality", "2"]
        + ["--out", str(out), *common],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["codec"] == "bmshj2018-factorized-mse" and out.exists()


def test_zoo_codecs_run_the_compressed_anchor_on_the_tensors_they_declare(tmp_path):
    """A smoke run of the compressed anchor on a factorized prior (y_hat alone) and a
    mean-scale hyperprior (y_hat, sigma_hat, mu_hat), from small trained checkpoints:
    the classifier reads M channels for one and 3M for the other."""
    import pandas as pd

    from jpegai_eval.framework.run.evaluator import run_study
    from jpegai_eval.framework.run.plan import RunConfig
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path / "minc"
    write_demo_dataset(root, per_class=3, size=64, seed=3)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_image(64, 64, seed=i)).save(folder / f"{i}.png")
    weights = []
    for family in ("bmshj2018-factorized", "mbt2018-mean"):
        # A few steps from a network whose |y| > 0.5 (tiny_zoo_network's gain): from
        # PyTorch's default init every y_hat would round to one value.
        start, out = tmp_path / f"{family}-init.pt", tmp_path / f"{family}.pt"
        write_tiny_zoo_checkpoint(start, zoo_codec(family), n=8, m=8)
        train(
            config_from_options(
                codec_id=family, quality=1, data=[str(folder)], out=str(out), steps=2,
                patch=64, batch=2, n=8, m=8, init=str(start), checkpoint_every=2,
                progress=False,
            )
        )  # fmt: skip
        weights.append(f"{family}={out}")
    config = RunConfig(
        codecs=["bmshj2018-factorized", "mbt2018-mean"],
        task="minc",
        task_options={"dataset": "minc", "data_root": str(root)},
        qualities=[1],
        anchors=["compressed"],
        preset="smoke",
        weights=",".join(weights),
        workers=0,
    )
    run_study(config, out_dir=tmp_path / "run")
    results = pd.read_csv(tmp_path / "run" / "results.csv").set_index("codec")
    assert list(results.index) == ["bmshj2018-factorized-msssim", "mbt2018-mean-msssim"]
    assert (results["n_test"] == 23).all() and (results["bpp"] > 0).all()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    inputs = run["latent_inputs"]
    factorized = inputs["latent-latents-bmshj2018-factorized-msssim-compressai-q1"]
    mean_scale = inputs["latent-latents-mbt2018-mean-msssim-compressai-q1"]
    assert factorized["input"] == "8x4x4"  # y_hat alone
    assert mean_scale["input"] == "24x4x4"  # y_hat, sigma_hat, mu_hat
    assert mean_scale["latent_spec"]["others"] == [["mu_hat", 8, 16]]


def test_transfer_starts_a_mean_scale_model_from_a_float16_scale_hyperprior(tmp_path):
    """``--transfer``: the tensors of the same name and shape come from the other family
    (g_a, g_s, h_a, the factorized prior), h_s stays fresh, and the constant bounds are
    not taken (float16 stores the likelihood bound 1e-9 as 0: every step would be
    infinite and skipped)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_image(64, 64, seed=i)).save(folder / f"{i}.png")
    source = tmp_path / "hyperprior.pt"
    hyperprior = write_tiny_checkpoint(source, quality=None, n=8, m=12, half=True)
    out = tmp_path / "mean.pt"
    meta = train(
        config_from_options(
            codec_id="mbt2018-mean", quality=2, data=[str(folder)], out=str(out), steps=2,
            patch=64, batch=2, n=8, m=12, transfer=str(source), lr=0.0, checkpoint_every=2,
            progress=False,
        )
    )  # fmt: skip
    assert meta["skipped_nonfinite_steps"] == 0
    assert meta["transfer"]["tensors_fresh"] == [
        f"h_s.{i}.{p}" for i in (0, 2, 4) for p in ("bias", "weight")
    ]
    saved = torch.load(out, weights_only=True)["state_dict"]
    source_g_a = hyperprior.g_a[0].weight.detach().half().float()
    assert torch.equal(saved["g_a.0.weight"].float(), source_g_a)  # lr 0: as transferred
    assert float(saved["gaussian_conditional.likelihood_lower_bound.bound"]) == pytest.approx(1e-9)
    with pytest.raises(UsageError, match="Give --init or --transfer, not both"):
        config_from_options(
            codec_id="mbt2018-mean", quality=2, data=[str(folder)], out=str(out),
            init=str(source), transfer=str(source),
        )  # fmt: skip


def test_mbt2018_mean_ships_demo_weights_at_every_quality():
    """The second demo family: mbt2018-mean (MS-SSIM) demo weights at qualities 1-8, as
    the manifest lists them (file digests), rates rising with the quality, the codec's
    contract kept; the MSE codec has none and says so."""
    import hashlib

    codec = zoo_codec("mbt2018-mean")
    assert w.demo_qualities(codec.id) == list(range(1, 9))
    folder = w.demo_dir(codec.id)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["codec"] == codec.id and manifest["architecture"] == "mbt2018-mean"
    assert (folder / "MODEL_CARD.md").is_file()
    image = synthetic_image(128, 128, seed=9)
    rates = []
    for q in range(1, 9):
        entry = manifest["qualities"][str(q)]
        path = folder / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        model = codec.load(q, "demo")
        assert model.source == str(path) and model.weights_id.hex() == entry["weights_id"]
        assert model.latent_spec.names == ("y_hat", "sigma_hat", "mu_hat")
        rates.append(len(model.encode(image)))
    assert rates == sorted(set(rates)), rates  # strictly more bytes at every step
    check_codec(codec, 4, "demo")
    with pytest.raises(WeightsError, match="ships demo weights for hyperprior-msssim"):
        zoo_codec("mbt2018-mean", "mse").load(1, "demo")


def test_a_file_of_the_demo_weights_decodes_without_naming_them(tmp_path, monkeypatch):
    """`codec decode` / `codec latents` of a file the shipped demo weights made read the
    weights id in its header and take the demo weights (the zoo codec's default is
    `pretrained`); offline, a missing zoo file's error offers this codec's demo weights."""
    from jpegai_eval.codecs.cli import codec_group

    monkeypatch.setenv("JPEGAI_EVAL_OFFLINE", "1")
    Image.fromarray(synthetic_image(64, 96, seed=2)).save(tmp_path / "a.png")
    run = CliRunner().invoke
    jai, png, npz = (str(tmp_path / n) for n in ("a.jai", "d.png", "a.npz"))
    common = ["--codec", "mbt2018-mean", "--quality", "2"]
    assert (
        run(
            codec_group, ["encode", *common, "--weights", "demo", str(tmp_path / "a.png"), jai]
        ).exit_code
        == 0
    )
    assert run(codec_group, ["decode", jai, png]).exit_code == 0
    out = run(codec_group, ["latents", jai, npz])
    assert out.exit_code == 0, out.output
    assert sorted(np.load(npz).files) == ["mu_hat", "sigma_hat", "y_hat"]
    refused = run(
        codec_group, ["encode", *common, str(tmp_path / "a.png"), str(tmp_path / "b.jai")]
    )
    assert refused.exit_code != 0
    assert "--codec mbt2018-mean-msssim --weights demo, qualities 1, 2" in refused.output
