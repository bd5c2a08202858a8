"""The ``tfc`` backend's shipped ``demo`` metagraphs: offline, through the real loader."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow_compression", reason="the [tf] extra is not installed")

from click.testing import CliRunner  # noqa: E402

from jpegai_eval.codecs.tfc_hyperprior import TfcHyperprior  # noqa: E402
from jpegai_eval.codecs.tfc_metagraph import DEMO_DIR  # noqa: E402
from jpegai_eval.framework.api.types import digest  # noqa: E402


def test_manifest_matches_the_shipped_files():
    import hashlib

    manifest = json.loads((DEMO_DIR / "manifest.json").read_text())
    assert sorted(manifest["qualities"]) == ["1", "4", "8"]
    for quality, entry in manifest["qualities"].items():
        data = (DEMO_DIR / entry["file"]).read_bytes()
        assert entry["file"] == f"bmshj2018-hyperprior-msssim-{quality}.metagraph"
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert digest(data).hex() == entry["weights_id"]
    assert (DEMO_DIR / "MODEL_CARD.md").is_file()


def test_demo_weights_encode_decode_and_give_latents_offline(monkeypatch):
    monkeypatch.setenv("JPEGAI_EVAL_OFFLINE", "1")
    image = np.random.RandomState(0).randint(0, 256, (64, 80, 3), dtype=np.uint8)
    model = TfcHyperprior("msssim").load(1, weights="demo")
    assert model.graph.path == DEMO_DIR / "bmshj2018-hyperprior-msssim-1.metagraph"
    data = model.encode(image)
    assert model.decode(data).shape == image.shape
    latents = model.latents(data)
    assert set(latents) == {"y_hat", "sigma_hat"}  # a float hyper synthesis
    assert latents["y_hat"].shape == (48, 4, 5) == latents["sigma_hat"].shape
    assert model.latent_spec.channels == 48


def test_codec_cli_encode_and_latents_with_demo(tmp_path, monkeypatch):
    from jpegai_eval.cli import cli
    from jpegai_eval.framework.io.image_io import write_image

    monkeypatch.setenv("JPEGAI_EVAL_OFFLINE", "1")
    image = np.random.RandomState(1).randint(0, 256, (64, 64, 3), dtype=np.uint8)
    write_image(tmp_path / "in.png", image)
    common = ["--codec", "hyperprior-msssim/tfc", "--quality", "1", "--weights", "demo"]
    runner = CliRunner()
    result = runner.invoke(
        cli, ["codec", "encode", *common, str(tmp_path / "in.png"), str(tmp_path / "out.jai")]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli,
        [
            "codec",
            "latents",
            "--weights",
            "demo",
            str(tmp_path / "out.jai"),
            str(tmp_path / "l.npz"),
        ],
    )
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "l.npz") as npz:
        assert npz["y_hat"].shape == (48, 4, 4)


@pytest.mark.slow
def test_study_with_both_backends_demo_weights(tmp_path):
    import pandas as pd

    from jpegai_eval.framework.run.evaluator import run_study
    from jpegai_eval.framework.run.plan import RunConfig
    from jpegai_eval.tasks.demo import write_demo_dataset

    data = write_demo_dataset(tmp_path / "data", per_class=3, size=64, seed=5)
    config = RunConfig(
        codecs=["hyperprior-msssim/compressai", "hyperprior-msssim/tfc"],
        task="minc",
        task_options={"data_root": str(data)},
        qualities=[1, 8],
        anchors=["anchor1", "compressed"],
        weights="demo",
        preset="smoke",
        workers=1,
    )
    run_study(config, out_dir=tmp_path / "run")
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    for backend in ("compressai", "tfc"):
        rows = results[results["backend"] == backend]
        assert sorted(rows["anchor"].unique()) == ["anchor1", "compressed"], backend
        bpp = rows.groupby("quality")["bpp"].mean()
        assert bpp[1] < bpp[8], (backend, bpp)  # both demo ladders: rate grows with quality
