"""Issue 28 (reliability, round two): one regression test per item the hostile-user pass
found -- never touch what the user owns, never fail after the work is done, never let a
report lie -- and a property test that damages a finished run folder at random.

The run-folder tests share one small finished run (``finished``: the demo hyperprior at
q1 on 23 classes x 3 images of 64 px, smoke preset, anchors 3, 1 and compressed).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.cli import cli
from jpegai_eval.tasks.demo import write_demo_dataset

ACCURACY = ["codec", "backend", "quality", "anchor", "top1", "top5", "n_test", "bpp", "psnr"]


def invoke(args: list[object]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def assert_clean_error(result, *phrases: str) -> str:  # type: ignore[no-untyped-def]
    text = result.output
    assert result.exit_code != 0, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in text
    error = text[text.index("Error:") :]
    for phrase in phrases:
        assert phrase in error, (phrase, error)
    return error


def run_args(root: Path, out: Path, *extra: object, codec: str = "hyperprior-msssim") -> list:
    return [
        "run",
        "--codec",
        codec,
        "--task",
        "minc",
        "--data-root",
        root,
        "--qualities",
        "1",
        "--weights",
        "demo",
        "--preset",
        "smoke",
        "--workers",
        "1",
        "--anchors",
        "anchor3,anchor1,compressed",
        "--out",
        out,
        *extra,
    ]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("minc")
    write_demo_dataset(root, per_class=3, size=64, seed=5)
    return root


@pytest.fixture(scope="module")
def finished(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    result = invoke(run_args(dataset, out))
    assert result.exit_code == 0, result.output
    return out


def copy_run(finished: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    return folder


# ------------------------------------------------------ 1. own only what you wrote


def test_force_never_deletes_the_users_files(dataset, tmp_path):
    out = tmp_path / "D"
    (out / "p").mkdir(parents=True)
    mine = [out / "p" / ".notes.tmp", out / ".draft.tmp-7"]
    for path in mine:
        path.write_text("my notes")
    result = invoke(run_args(dataset, out, "--force"))
    error = assert_clean_error(result, "not a jpegai-eval run folder", "--force does not")
    assert "deleted" not in result.output and ".draft.tmp-7" in error
    assert all(p.read_text() == "my notes" for p in mine)
    assert sorted(p.name for p in out.rglob("*")) == [".draft.tmp-7", ".notes.tmp", "p"]


@pytest.mark.parametrize("where", ["/", "~"])
def test_root_and_home_are_never_an_output_folder(dataset, where):
    out = Path(where).expanduser()
    before = sorted(p.name for p in out.iterdir())
    result = invoke(run_args(dataset, out, "--force"))
    error = assert_clean_error(result, "must be a folder of its own")
    assert "pass --force" not in error
    assert sorted(p.name for p in out.iterdir()) == before


# --------------------------------------------- 2. image limits before the first encode


def test_a_jpeg_run_refuses_a_100000_px_wide_image_before_encoding(dataset, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(dataset, root)
    rel = (root / "labels" / "test1.txt").read_text().split()[0]
    Image.fromarray(np.zeros((1, 100_000, 3), np.uint8)).save(root / rel, format="PNG")
    out = tmp_path / "run"
    args = run_args(root, out, codec="jpeg")
    args[args.index("--anchors") + 1] = "anchor3,anchor1"
    result = invoke(args)
    assert_clean_error(result, rel, "65,500", "--skip-bad-images")
    assert not out.exists()  # refused before the folder (or any encode) was made


def test_codec_encode_of_an_image_webp_cannot_hold_is_a_clean_error(tmp_path):
    image = tmp_path / "wide.png"
    Image.fromarray(np.zeros((1, 20_000, 3), np.uint8)).save(image)
    out = tmp_path / "wide.jai"
    result = invoke(["codec", "encode", "--codec", "webp", "--quality", "1", image, out])
    assert_clean_error(result, "16,383")
    assert not out.exists()


def test_a_codec_librarys_own_error_in_a_worker_is_a_named_per_image_error(tmp_path):
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.api.types import Sample
    from jpegai_eval.framework.run.cache import CacheCell
    from jpegai_eval.framework.run.encode_stage import Job, encode_one
    from jpegai_eval.framework.run.records import EncodeFailure

    codec = get_plugins().codecs.resolve("jpeg")
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)

    class Broken:
        weights_id = b""

        def encode(self, array):  # type: ignore[no-untyped-def]
            raise OSError("broken data stream when writing image file")

    from jpegai_eval.framework.run import encode_stage

    cell = CacheCell(tmp_path / "cache")
    encode_stage._models[encode_stage._model_key(codec, cell)] = Broken()
    job = Job(codec, 1, None, cell, Sample("a.png", image, 0), "a-0")
    result = encode_one(job)
    assert isinstance(result, EncodeFailure) and result.sample_id == "a.png"
    assert "broken data stream" in result.error and "jpeg/pillow" in result.error
    assert str(image) in result.error


# -------------------------------------------------------------- 4. repeated qualities


def test_repeated_qualities_are_refused_before_any_work(dataset, tmp_path):
    out = tmp_path / "run"
    args = run_args(dataset, out)
    args[args.index("--qualities") + 1] = "1,1"
    result = invoke(args)
    assert_clean_error(result, "--qualities", "more than once", "--qualities 1")
    assert not out.exists()


# --------------------------------------------------------------- 5. the cache validated


def test_a_damaged_cache_entry_is_named_and_redone(tmp_path):
    from jpegai_eval.framework.run.cache import CacheCell

    cell = CacheCell.for_codec(tmp_path, "c", "b", 1, "ab", {"version": "1"})
    meta = cell.store("img-1", b"bits", b"png bytes", b"npz bytes", {"bpp": 1.0})
    assert cell.check("img-1") == (meta, None)
    paths = cell.paths("img-1")
    paths["npz"].write_bytes(b"npz")  # truncated
    assert cell.check("img-1") == (None, "img-1.npz changed since it was written")
    paths["npz"].unlink()
    assert cell.check("img-1")[1] == "img-1.npz is missing"
    paths["json"].write_text("{garbage")
    assert "unreadable" in cell.check("img-1")[1]
    assert cell.check("never-written") == (None, None)


def test_the_cache_folder_names_the_codecs_version_and_latent_layout(tmp_path):
    from jpegai_eval.framework.run.cache import CacheCell

    roots = {
        CacheCell.for_codec(tmp_path, "c", "b", 1, "ab", p).root
        for p in (
            {"distribution": "x", "version": "1", "latent_layout": {"channels": 8}},
            {"distribution": "x", "version": "2", "latent_layout": {"channels": 8}},
            {"distribution": "x", "version": "1", "latent_layout": {"channels": 16}},
        )
    }
    assert len(roots) == 3


@pytest.mark.slow
def test_a_truncated_npz_and_a_garbage_png_are_re_encoded(finished, tmp_path):
    folder = copy_run(finished, tmp_path)
    npz = next(folder.glob("cache/*/*/*.npz"))
    png = next(folder.glob("cache/*/*/*.png"))
    npz.write_bytes(npz.read_bytes()[:50])
    png.write_bytes(b"garbage")
    dataset = Path(
        json.loads((folder / "run.json").read_text())["config"]["task_options"]["data_root"]
    )
    result = invoke(run_args(dataset, folder))
    assert result.exit_code == 0, result.output
    log = (folder / "run.log").read_text()
    assert log.count("is damaged") == 2 and "re-encoding it" in log
    assert "(" + "46 reused" not in log  # two were redone
    pd.testing.assert_frame_equal(
        pd.read_csv(folder / "results.csv")[ACCURACY],
        pd.read_csv(finished / "results.csv")[ACCURACY],
    )
    with np.load(npz) as data:
        assert set(data.files) == {"y_hat", "sigma_hat"}


# --------------------------------------------------- 3. results.csv rebuilt from cells/


@pytest.mark.slow
def test_report_rebuilds_a_cut_results_csv_from_the_cells(finished, tmp_path):
    folder = copy_run(finished, tmp_path)
    good = (folder / "results.csv").read_bytes()
    (folder / "results.csv").write_bytes(good[: len(good) // 2])
    stale = folder / "compressai" / "gone-codec.json"
    manifest = json.loads((folder / "report-outputs.json").read_text())
    stale.parent.mkdir(exist_ok=True)
    stale.write_text("{}")
    manifest["compressai-json"] = [
        *manifest.get("compressai-json", []),
        "compressai/gone-codec.json",
    ]
    (folder / "report-outputs.json").write_text(json.dumps(manifest))
    user_file = folder / "my-notes.txt"
    user_file.write_text("mine")

    result = invoke(["report", folder])
    assert result.exit_code == 0, result.output
    assert "rebuilt it from cells/" in result.output
    assert (folder / "results.csv").read_bytes() == good
    assert not stale.exists() and user_file.read_text() == "mine"

    next(folder.glob("cells/anchor1*.json")).unlink()
    (folder / "results.csv").write_bytes(good[:100])
    result = invoke(["report", folder])
    assert_clean_error(result, "cells", "is missing", "Rerun the same")


# ------------------------------------- 6, 13. a failed rerun: banner, every invocation


@pytest.mark.slow
def test_a_failed_rerun_is_a_banner_and_every_invocation_is_kept(finished, tmp_path, monkeypatch):
    from jpegai_eval.framework.run import evaluator

    folder = copy_run(finished, tmp_path)
    first = json.loads((folder / "run.json").read_text())
    dataset = Path(first["config"]["task_options"]["data_root"])

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the GPU fell off the bus")

    monkeypatch.setattr(evaluator, "classify_stage", boom)
    assert invoke(run_args(dataset, folder)).exit_code != 0
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and "fell off the bus" in info["error"]
    assert [i["status"] for i in info["invocations"]] == ["finished", "failed"]
    assert info["duration_s"] == pytest.approx(
        sum(i["duration_s"] for i in info["invocations"]), abs=0.11
    )
    assert info["device"] == first["device"] and info["provider"] == first["provider"]

    result = invoke(["report", folder, "--format", "html"])
    assert result.exit_code == 0, result.output
    html = (folder / "report.html").read_text()
    assert 'id="warnings"' in html and "the last invocation of this run is failed" in html.lower()
    assert "? / ?" not in html


def test_ctrl_c_says_how_to_resume(dataset, tmp_path, monkeypatch):
    from jpegai_eval.framework.run import evaluator

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluator, "run_study", interrupted)
    result = invoke(run_args(dataset, tmp_path / "run"))
    assert result.exit_code == 130
    assert "rerun the same command" in result.output and "Aborted" not in result.output


# ------------------------------------------------------------ 11. reports that warn


def _results(top1_anchor3: float, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "codec": "original",
                "backend": "",
                "quality": None,
                "anchor": "anchor3",
                "top1": top1_anchor3,
                "top5": 1.0,
                "n_test": n,
            }
        ]
    )


def test_a_chance_level_anchor3_and_the_smoke_preset_are_banners():
    from jpegai_eval.reports.trust import warnings_for

    info = {"n_classes": 23, "config": {"preset": "smoke"}, "status": "finished"}
    found = warnings_for(info, _results(1 / 23, 23))
    assert any("Preset smoke" in w for w in found)
    assert any("holds chance (1/23" in w for w in found)
    quick = {"n_classes": 23, "config": {"preset": "quick"}, "status": "finished"}
    assert warnings_for(quick, _results(0.9, 230)) == []


def test_anchor2_significantly_above_anchor3_is_a_banner():
    from jpegai_eval.reports.trust import warnings_for

    rows = []
    for i in range(40):
        label = f"c{i % 11}"
        rows.append(
            {
                "image_id": str(i),
                "split": "test",
                "label": label,
                "codec": "jpeg",
                "backend": "pillow",
                "quality": 1,
                "pred_anchor3": label if i < 17 else "wrong",  # 42.5 %
                "pred_anchor2": label if i < 30 else "wrong",
            }  # 75 %
        )
    per_image = pd.DataFrame(rows)
    info = {"n_classes": 11, "config": {"preset": "quick"}}
    found = warnings_for(info, _results(17 / 40, 40), per_image)
    assert len(found) == 1 and "jpeg/pillow q1 (75.0% against 42.5%" in found[0]
    per_image["pred_anchor2"] = per_image["pred_anchor3"]
    assert warnings_for(info, _results(17 / 40, 40), per_image) == []


@pytest.mark.slow
def test_top5_is_left_out_for_five_classes_or_fewer(finished, tmp_path):
    folder = copy_run(finished, tmp_path)
    html = (folder / "report.html").read_text()
    assert "Top-5 accuracy" in html and (folder / "table_top5.csv").exists()  # 23 classes
    info = json.loads((folder / "run.json").read_text())
    info["n_classes"] = 3
    (folder / "run.json").write_text(json.dumps(info))
    assert invoke(["report", folder]).exit_code == 0
    html = (folder / "report.html").read_text()
    assert "Top-5 accuracy (%)" not in html and 'id="no-top5"' in html
    assert not (folder / "table_top5.csv").exists()  # written before, removed now


# ------------------------------------------------------------------------- 14. noise


def test_a_finished_progress_line_is_printed_once():
    import io

    from jpegai_eval.framework.io.progress import LineProgress

    out = io.StringIO()
    for _ in LineProgress(range(3), desc="x", file=out, interval=0.0):
        pass
    assert out.getvalue().count("3/3") == 1


def test_a_garbage_run_json_is_named_as_damaged(dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("{garbage")
    error = assert_clean_error(invoke(run_args(dataset, out)), "not readable JSON", "--force")
    assert "fingerprint None" not in error


@pytest.mark.slow
def test_the_log_says_latents_once(finished):
    log = (finished / "run.log").read_text()
    noisy = [line for line in log.splitlines() if "latents latents" in line]
    assert noisy == [] and re.search(r"training on \d+ latents \(smoke preset", log)


# ----------------------------------------------- property: damage, then the same command

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

DAMAGEABLE = ("cache", "cells", "classifiers")


def _damageable(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and (p.relative_to(folder).parts[0] in DAMAGEABLE or p.name.endswith(".csv"))
    )


def _damage(path: Path, how: str, where: float) -> None:
    data = path.read_bytes()
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(data[: int(len(data) * where)])
    else:  # overwrite a run of bytes in the middle with garbage
        at = int(len(data) * where)
        path.write_bytes(data[:at] + b"\x00garbage\xff" * 4 + data[at + 40 :])


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # the same six damages on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_randomly_damaged_run_folder_resumes_identically_or_names_the_damage(
    finished, dataset, tmp_path_factory, data
):
    """Delete, truncate or corrupt one file under cache/, cells/, classifiers/ or a CSV of
    a finished run, then rerun the same command: exit 0 with the untouched run's
    results, or exit != 0 with one named error -- never a traceback, never silently
    different numbers."""
    folder = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(finished, folder)
    target = data.draw(st.sampled_from(_damageable(folder)), label="file")
    how = data.draw(st.sampled_from(["delete", "truncate", "corrupt"]), label="how")
    where = data.draw(st.floats(0.0, 0.9), label="where")
    _damage(folder / target, how, where)

    result = invoke(run_args(dataset, folder))
    if result.exit_code == 0:
        pd.testing.assert_frame_equal(
            pd.read_csv(folder / "results.csv")[ACCURACY],
            pd.read_csv(finished / "results.csv")[ACCURACY],
        )
    else:
        assert_clean_error(result)
        assert result.output.count("Error:") == 1
    shutil.rmtree(folder.parent)
