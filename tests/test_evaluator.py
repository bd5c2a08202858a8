"""The evaluator: planning errors, the output-folder guard, the cache, the matrix, and
end-to-end runs with real codecs, real training and real ONNX Runtime sessions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from jpegai_eval import hookimpl
from jpegai_eval.cli import cli
from jpegai_eval.framework.api.plugins import get_plugins, make_plugin_manager
from jpegai_eval.framework.api.types import Anchor
from jpegai_eval.framework.errors import UsageError, UserError
from jpegai_eval.framework.run.cache import CacheCell
from jpegai_eval.framework.run.evaluator import claim_out_dir, matrix, run_study
from jpegai_eval.framework.run.plan import RunConfig, make_plan
from jpegai_eval.framework.run.records import ResultRow
from jpegai_eval.framework.run.results import summary_table


@pytest.fixture(scope="module")
def tiny_minc(tmp_path_factory) -> Path:
    """23 classes x 3 images (one each in train, validate, test), 64x64, MINC layout."""
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("minc")
    write_demo_dataset(root, per_class=3, size=64, seed=3)
    return root


def config(root: Path, **overrides) -> RunConfig:
    values = dict(
        codecs=["hyperprior-msssim"],
        task="minc",
        task_options={"dataset": "minc", "data_root": str(root)},
        qualities=[1],
        weights="demo",
        preset="smoke",
        workers=1,
    )
    values.update(overrides)
    return RunConfig(**values)


# ------------------------------------------------------------------------ planning


def test_plan_defaults_to_the_papers_qualities_and_all_anchors(tiny_minc):
    plan = make_plan(config(tiny_minc, qualities=None), make_plugin_manager(False))
    assert plan.codecs[0].qualities == [1, 4, 8]
    assert [a.id for a in plan.anchors] == ["anchor1", "anchor2", "anchor3", "compressed"]
    names = [c.name for c in matrix(plan)]
    assert names[0] == "anchor3"
    assert "compressed-hyperprior-msssim-compressai-q8" in names
    assert len(names) == 1 + 3 * 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"codecs": ["nope"]}, "Unknown codec: 'nope'. Known codecs:"),
        ({"task": "nope"}, "Unknown task: 'nope'. Known tasks: imagefolder, minc"),
        ({"anchors": ["anchor9"]}, "Unknown anchor: 'anchor9'"),
        ({"qualities": [9]}, "has no quality 9; its qualities are 1, 2, 3, 4, 5, 6, 7, 8"),
        ({"backend": "nope"}, "has no backend 'nope'"),
        ({"preset": "slow"}, "has no preset 'slow'"),
        ({"codecs": ["jpeg"], "anchors": ["compressed"]}, "needs a compressed domain"),
    ],
)
def test_plan_refuses_unknown_names_before_any_work(tiny_minc, overrides, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        make_plan(config(tiny_minc, **overrides), make_plugin_manager(False))


def test_pixel_codec_skips_the_compressed_anchor_with_a_note(tiny_minc):
    plan = make_plan(
        config(tiny_minc, codecs=["jpeg", "hyperprior-msssim"]), make_plugin_manager(False)
    )
    jpeg = plan.codecs[0].codec
    assert "compressed" not in [a.id for a in plan.anchors_for(jpeg)]
    assert any("jpeg/pillow has no compressed domain" in n for n in plan.notes)


def test_run_config_json_names_every_field_of_the_config():
    """run.json's ``config`` is typed by RunConfigJson: it must name exactly the
    RunConfig's fields, in order, or the type would lie about the file."""
    from dataclasses import fields

    from jpegai_eval.framework.run.run_json import RunConfigJson

    cfg = RunConfig(codecs=["x"], task="minc", task_options={"split_number": 2})
    assert list(cfg.to_dict()) == [f.name for f in fields(RunConfig)]
    assert list(RunConfigJson.__annotations__) == list(cfg.to_dict())


def test_weights_per_backend():
    plugins = make_plugin_manager(False)
    cfg = RunConfig(codecs=["x"], task="minc", weights="compressai=demo,tfc=/models")
    assert cfg.weights_for(plugins.codecs.get("hyperprior-msssim/compressai")) == "demo"
    assert cfg.weights_for(plugins.codecs.get("hyperprior-msssim/tfc")) == "/models"
    assert cfg.weights_for(plugins.codecs.get("jpeg/pillow")) is None
    assert (
        RunConfig(codecs=[], task="minc", weights="demo").weights_for(
            plugins.codecs.get("jpeg/pillow")
        )
        == "demo"
    )


def test_output_folder_of_another_configuration_is_refused(tmp_path):
    first = RunConfig(codecs=["jpeg"], task="minc", qualities=[1])
    claim_out_dir(tmp_path / "run", first, force=False)
    (tmp_path / "run" / "run.json").write_text(json.dumps({"fingerprint": first.fingerprint()}))
    claim_out_dir(tmp_path / "run", first, force=False)  # same configuration: resume
    other = RunConfig(codecs=["jpeg"], task="minc", qualities=[2])
    with pytest.raises(UserError, match="holds a run of another configuration"):
        claim_out_dir(tmp_path / "run", other, force=False)
    claim_out_dir(tmp_path / "run", other, force=True)
    # Settings that change only speed do not change the fingerprint.
    assert RunConfig(codecs=["jpeg"], task="minc", workers=8, device="cpu").fingerprint() == (
        RunConfig(codecs=["jpeg"], task="minc").fingerprint()
    )


def test_missing_minc_root_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("JPEGAI_EVAL_MINC_ROOT", raising=False)
    result = CliRunner().invoke(
        cli, ["run", "--codec", "jpeg", "--task", "minc", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code != 0
    assert "MINC-2500" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists(), "an error before any work leaves no output folder"


def test_bad_weights_fail_before_the_output_folder_exists(tiny_minc, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UserError, match="nor an existing file or folder"):
        run_study(config(tiny_minc, weights=str(tmp_path / "nope.pt")), out_dir=out)
    assert not out.exists()


def test_too_little_disk_fails_before_any_work(tiny_minc, tmp_path, monkeypatch):
    import shutil as shutil_module
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(10**6, 10**6, 1000))
    with pytest.raises(UserError, match="Not enough free disk for the encode cache"):
        run_study(config(tiny_minc), out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_weights_dir_reaches_the_codec(tiny_minc, tmp_path):
    """--weights pretrained --weights-dir DIR loads CompressAI's zoo file from DIR."""
    import torch

    from jpegai_eval.codecs import weights as w
    from jpegai_eval.codecs.testing import tiny_network
    from jpegai_eval.framework.run.evaluator import open_cells

    state = tiny_network(8, 12, seed=3).state_dict()
    torch.save(state, tmp_path / w.pretrained_filename("hyperprior-msssim", 1))
    cfg = config(tiny_minc, weights="pretrained", weights_dir=str(tmp_path))
    cells = open_cells(make_plan(cfg, make_plugin_manager(False)), tmp_path / "run")
    assert cells[("hyperprior-msssim/compressai", 1)].latent_spec.channels == 12
    # A codec whose load() takes no weights_dir gets a clear error instead.
    cfg = config(tiny_minc, codecs=["jpeg"], weights_dir=str(tmp_path))
    with pytest.raises(UserError, match="does not take --weights-dir"):
        open_cells(make_plan(cfg, make_plugin_manager(False)), tmp_path / "run")


# --------------------------------------------------------------------------- cache


def test_cache_entry_is_redone_when_incomplete_or_inconsistent(tmp_path):
    cell = CacheCell.for_codec(tmp_path, "c", "b", 1, "abcd")
    assert cell.root == tmp_path / "c__b" / "q1-abcd"
    cell.store("img-1", b"JPAI...", b"png", None, {"bpp": 1.0})
    assert cell.load("img-1")["bytes"] == 7
    paths = cell.paths("img-1")
    paths["jai"].write_bytes(b"JPA")  # truncated after the fact
    assert cell.load("img-1") is None
    cell.store("img-2", b"data", b"png", b"npz", {"bpp": 1.0})
    paths = cell.paths("img-2")
    paths["npz"].unlink()
    assert cell.load("img-2") is None
    paths["json"].write_text("{not json")
    assert cell.load("img-2") is None
    assert not list(tmp_path.rglob(".jpegai-eval-tmp-*")), "no temporary files left behind"


def test_summary_table_has_table_2s_layout():
    rows = [
        {
            "anchor": "anchor3",
            "codec": "original",
            "backend": "",
            "quality": None,
            "top1": 0.815,
            "top5": 0.9758,
        },
        {
            "anchor": "anchor1",
            "codec": "c",
            "backend": "b",
            "quality": 1,
            "top1": 0.6026,
            "top5": 0.8788,
        },
        {
            "anchor": "anchor1",
            "codec": "c",
            "backend": "b",
            "quality": 8,
            "top1": 0.81,
            "top5": 0.97,
        },
    ]
    text = summary_table([ResultRow.from_json(r) for r in rows]).splitlines()
    assert text[0].split() == ["Top-1", "%", "c/b", "q1", "c/b", "q8"]
    assert text[1].split() == ["anchor3", "81.50", "81.50"]
    assert text[2].split() == ["anchor1", "60.26", "81.00"]


# --------------------------------------------------------------------- end to end


class ExtraAnchorPlugin:
    """A third-party anchor: the classifier retrained on decoded images, evaluated on
    the originals."""

    @hookimpl
    def register_anchors(self, register):
        register(
            Anchor(
                "anchor2-on-originals",
                "Anchor 2's classifier on originals",
                "pixel",
                train_on="decoded",
                eval_on="original",
            )
        )


@pytest.mark.slow
def test_run_writes_every_anchor_and_resumes_without_work(tiny_minc, tmp_path):
    get_plugins().pm.register(ExtraAnchorPlugin(), name="extra-anchor")
    out = tmp_path / "run"
    result = run_study(config(tiny_minc), out_dir=out)

    results = pd.read_csv(out / "results.csv")
    assert list(results["anchor"]) == [
        "anchor3",
        "anchor1",
        "anchor2",
        "compressed",
        "anchor2-on-originals",
    ]
    coded = results[results["anchor"] != "anchor3"]
    assert (coded["codec"] == "hyperprior-msssim").all()
    assert (coded["backend"] == "compressai").all() and (coded["quality"] == 1).all()
    for column in ("bpp", "psnr", "ms_ssim", "ssim", "encode_ms_per_image"):
        assert coded[column].notna().all(), column
    assert (coded["bpp"] > 0).all() and (coded["psnr"] > 10).all()
    assert results["top1"].between(0, 1).all() and results["top5"].between(0, 1).all()
    assert (results["top5"] >= results["top1"]).all()
    assert (results["n_test"] == 23).all()
    assert set(results["provider"]) == {"CPUExecutionProvider"}
    assert (results["onnx_max_abs_diff"] < 1e-3).all()
    # Anchor 1 reuses anchor 3's classifier; the compressed anchor runs cResNet-39.
    by = results.set_index("anchor")
    assert by.loc["anchor1", "classifier"] == by.loc["anchor3", "classifier"] == "pixel-original"
    assert by.loc["compressed", "classifier"].startswith("latent-latents-hyperprior")
    assert by.loc["compressed", "macs"] < by.loc["anchor2", "macs"]
    assert (out / "classifiers" / "pixel-original" / "model.onnx").is_file()

    per_image = pd.read_csv(out / "per_image.csv")
    assert len(per_image) == 23
    assert {"pred_anchor1", "pred_anchor2", "pred_compressed", "pred_anchor3"} <= set(per_image)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["provider"] == "CPUExecutionProvider"
    assert run["versions"]["torch"] and run["config"]["seed"] == 0
    assert (out / "table_top1.csv").is_file() and result.reports

    # A rerun with the same folder re-encodes nothing and retrains nothing.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".jai", ".onnx")}
    started = time.time()
    again = run_study(config(tiny_minc), out_dir=out)
    assert time.time() - started < 30
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert pd.read_csv(out / "results.csv").equals(results)
    assert again.rows == result.rows
    resumed = json.loads((out / "run.json").read_text())
    assert resumed["started"] == run["started"] and len(resumed["invocations"]) == 2
    assert resumed["duration_s"] >= run["duration_s"]
    assert resumed["qualities"] == {"hyperprior-msssim/compressai": [1]}


def _wait_for(predicate, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["encode", "training"])
def test_run_killed_mid_stage_resumes_cleanly(tiny_minc, tmp_path, console_script, stage):
    out = tmp_path / "run"
    args = [
        console_script,
        "run",
        "--codec",
        "hyperprior-msssim",
        "--task",
        "minc",
        "--data-root",
        str(tiny_minc),
        "--qualities",
        "1",
        "--weights",
        "demo",
        "--preset",
        "smoke",
        "--workers",
        "1",
        "--anchors",
        "anchor3,compressed",
        "--out",
        str(out),
    ]
    env = dict(os.environ, JPEGAI_EVAL_LOAD_PLUGINS="")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if stage == "encode":
        reached = _wait_for(lambda: len(list(out.glob("cache/*/*/*.json"))) >= 5, proc)
    else:
        reached = _wait_for(lambda: (out / "classifiers").is_dir(), proc)
    assert reached, proc.communicate()[1].decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.csv").exists()

    finished = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = pd.read_csv(out / "results.csv")
    assert list(results["anchor"]) == ["anchor3", "compressed"]
    assert len(list(out.glob("cache/*/*/*.json"))) == 46  # train + test, 23 each
    for meta in out.glob("cache/*/*/*.json"):
        json.loads(meta.read_text())  # every entry parses: none half-written
        assert meta.with_suffix(".jai").stat().st_size == json.loads(meta.read_text())["bytes"]


def test_cli_run_rejects_malformed_qualities(tiny_minc):
    result = CliRunner().invoke(
        cli, ["run", "--codec", "jpeg", "--task", "minc", "--qualities", "one,two"]
    )
    assert result.exit_code == 2
    assert "comma-separated integers" in result.output


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))


def test_encode_stage_never_reuses_a_model_loaded_for_other_weights(tmp_path):
    """Regression: workers (and the in-process path) cache loaded models; a model
    loaded for one set of weights must not encode a cell of another."""
    import numpy as np

    from jpegai_eval.codecs.testing import synthetic_image, write_tiny_checkpoint
    from jpegai_eval.framework.api.types import Sample
    from jpegai_eval.framework.io.image_io import write_image
    from jpegai_eval.framework.run.encode_stage import make_jobs, open_cell, run_jobs
    from jpegai_eval.framework.run.records import EncodedEntry

    write_image(tmp_path / "a.png", synthetic_image(64, 64))
    sample = Sample("a.png", tmp_path / "a.png", 0)
    codec = make_plugin_manager(False).codecs.resolve("hyperprior-msssim")
    channels = []
    for m in (12, 16):
        ckpt = tmp_path / f"m{m}.pt"
        write_tiny_checkpoint(ckpt, m=m, seed=m)
        cell = open_cell(codec, 1, str(ckpt), tmp_path / "cache")
        for job, result in run_jobs(make_jobs([cell], [sample]), workers=1):
            assert isinstance(result, EncodedEntry), result
            latents = np.load(job.cell.paths(job.key)["npz"])
            channels.append(latents["y_hat"].shape[0])
    assert channels == [12, 16]


@pytest.mark.slow
def test_changed_dataset_retrains_and_reevaluates_with_the_reason_logged(tmp_path):
    """Issue 12, item 2: rerunning the same command after the dataset's contents were
    replaced must not answer from the old classifiers and cells."""
    import shutil

    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path / "minc"
    write_demo_dataset(root, per_class=3, size=64, seed=3)
    out = tmp_path / "run"
    cfg = config(root, anchors=["compressed"])
    run_study(cfg, out_dir=out)
    stale = (out / "results.csv").read_bytes()
    log_before = (out / "run.log").read_text()

    # Same names, same labels, other pixels.
    other = tmp_path / "other"
    write_demo_dataset(other, per_class=3, size=64, seed=11)
    shutil.rmtree(root / "images")
    shutil.copytree(other / "images", root / "images")
    run_study(cfg, out_dir=out)
    new_log = (out / "run.log").read_text()[len(log_before) :]
    classifier = "classifier latent-latents-hyperprior-msssim-compressai-q1"
    assert f"{classifier}: retraining it: its training data changed" in new_log
    assert (
        "compressed-hyperprior-msssim-compressai-q1: evaluating it again: its test data "
        "changed" in new_log
    )
    fresh = (out / "results.csv").read_bytes()
    assert fresh != stale
    # Item 7: the classifier keeps model.pt and model.onnx, not the training checkpoint.
    folder = out / "classifiers" / classifier.split()[1]
    assert (folder / "model.pt").is_file() and not (folder / "checkpoint.pt").exists()
    rows = pd.read_csv(out / "results.csv")
    per_image = pd.read_csv(out / "per_image.csv")
    assert rows["bpp"].iloc[0] == pytest.approx(per_image["bpp"].mean())

    # Unchanged data: everything is reused, nothing retrained.
    run_study(cfg, out_dir=out)
    last_log = (out / "run.log").read_text()[len(log_before) + len(new_log) :]
    assert "retraining" not in last_log and "evaluating it again" not in last_log
    assert (out / "results.csv").read_bytes() == fresh


def test_sweep_removes_only_temporary_files(tmp_path):
    """Issue 28, item 1: only the tool's own ``.jpegai-eval-tmp-*`` files are swept; a
    user's hidden ``*.tmp`` / ``*.tmp-*`` files (and any file outside the run's own
    subfolders) stay."""
    from jpegai_eval.framework.run.evaluator import sweep_temporaries

    keep = [
        tmp_path / ".lock",
        tmp_path / "run.json",
        tmp_path / "classifiers" / "x" / "model.pt",
        tmp_path / "p" / ".notes.tmp",
        tmp_path / ".draft.tmp-7",
        tmp_path / "cells" / ".anchor3.json.k2j3h4.tmp",
        tmp_path / "mine" / ".jpegai-eval-tmp-1-notes",  # not a folder the run writes
    ]
    gone = [
        tmp_path / "classifiers" / "x" / ".jpegai-eval-tmp-4242-checkpoint.pt",
        tmp_path / "cells" / ".jpegai-eval-tmp-11-anchor3.json.k2j3h4",
        tmp_path / "cache" / "c__b" / "q1-ab" / ".jpegai-eval-tmp-11-img-1.png.x8y9",
        tmp_path / ".jpegai-eval-tmp-11-run.json.abc",
    ]
    for path in keep + gone:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert sweep_temporaries(tmp_path) == len(gone)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)


def test_atomic_writes_use_the_tools_own_temporary_names(tmp_path):
    from jpegai_eval.framework.io.image_io import TEMP_PREFIX, atomic_output

    with atomic_output(tmp_path / "a.json") as tmp:
        assert tmp.name.startswith(TEMP_PREFIX) and tmp.parent == tmp_path
        tmp.write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_disk_check_counts_the_classifiers(tiny_minc, tmp_path, monkeypatch):
    """Issue 12, item 7: an output disk with room for the cache but not for the
    classifiers (ResNet-50: 95 MB of weights, a 190 MB checkpoint) is refused up front."""
    import shutil as shutil_module
    from collections import namedtuple

    from jpegai_eval.framework.run.evaluator import classifier_bytes, open_cells

    cfg = config(tiny_minc, anchors=["anchor3"])
    plan = make_plan(cfg, make_plugin_manager(False))
    needed = classifier_bytes(plan, open_cells(plan, tmp_path / "probe"))
    assert needed > 6 * 4 * 23_000_000  # one ResNet-50: weights, ONNX, checkpoint, its copy
    usage = namedtuple("usage", "total used free")
    cache = 46 * 64 * 64 * 4  # 46 images of 64x64, ~4 bytes a pixel
    free = cache + needed // 2
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(10**12, 0, free))
    with pytest.raises(UserError, match="encode cache and the classifiers"):
        run_study(cfg, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_replaced_init_weights_retrain_the_classifiers(tmp_path, tiny_minc):
    """The classifiers' key holds the content of the checkpoint they start from: the
    same --imagenet-weights path with other bytes must not be answered from the old
    classifiers (nor may the stand-in's files, replaced by a reinstall)."""
    import torch

    from jpegai_eval.tasks.models import CResNet39

    ckpt = tmp_path / "init.pt"
    name = "layer4.2.bn3.bias"  # one tensor cResNet-39 takes (smoke preset: width 1)
    shape = CResNet39(8, 8).state_dict()[name].shape
    torch.save({name: torch.full(shape, 0.5)}, ckpt)
    out = tmp_path / "run"
    cfg = config(tiny_minc, anchors=["compressed"], imagenet_weights=str(ckpt))
    run_study(cfg, out_dir=out)
    before = len((out / "run.log").read_text())
    run_study(cfg, out_dir=out)
    assert "retraining" not in (out / "run.log").read_text()[before:]

    torch.save({name: torch.full(shape, 0.25)}, ckpt)  # same path, other weights
    before = len((out / "run.log").read_text())
    run_study(cfg, out_dir=out)
    log = (out / "run.log").read_text()[before:]
    assert "retraining it: its configuration changed" in log
