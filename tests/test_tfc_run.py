"""End to end: a study with the TFC backend, side by side with the CompressAI one."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("tensorflow_compression", reason="the [tf] extra is not installed")

from jpegai_eval.framework.run.evaluator import run_study  # noqa: E402
from jpegai_eval.framework.run.plan import RunConfig  # noqa: E402


@pytest.mark.slow
def test_run_with_both_hyperprior_backends_writes_tfc_rows(tmp_path):
    from jpegai_eval.tasks.demo import write_demo_dataset
    from tests.tfc_model import build_metagraph

    metagraphs = tmp_path / "metagraphs"
    metagraphs.mkdir()
    build_metagraph(metagraphs / "bmshj2018-hyperprior-msssim-1.metagraph")
    data = write_demo_dataset(tmp_path / "data", per_class=3, size=64, seed=5)
    config = RunConfig(
        codecs=["hyperprior-msssim/compressai", "hyperprior-msssim/tfc"],
        task="minc",
        task_options={"data_root": str(data)},
        qualities=[1],
        anchors=["anchor3", "anchor1", "compressed"],
        weights=f"compressai=demo,tfc={metagraphs}",
        preset="smoke",
        workers=1,
    )
    run_study(config, out_dir=tmp_path / "run")
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    tfc = results[results["backend"] == "tfc"]
    assert list(tfc["anchor"]) == ["anchor1", "compressed"]
    assert (tfc["codec"] == "hyperprior-msssim").all() and (tfc["quality"] == 1).all()
    assert (tfc["bpp"] > 0).all() and tfc["top1"].between(0, 1).all()
    # The tiny TFC model has 8 latent channels, the demo CompressAI model 96: each
    # compressed-domain classifier was built for its own codec's latents.
    compressed = results[results["anchor"] == "compressed"].set_index("backend")
    assert compressed.loc["tfc", "classifier"].endswith("-tfc-q1")
    assert compressed.loc["tfc", "params"] < compressed.loc["compressai", "params"]
    assert set(results["backend"].fillna("")) == {"", "compressai", "tfc"}
