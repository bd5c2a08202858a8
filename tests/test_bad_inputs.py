"""Bad inputs, as a hostile or careless user would give them (issue 12).

Each case runs the CLI (click's CliRunner, in process) and asserts the exit code, one
clear ``Error:`` paragraph that names the problem, no traceback, and that nothing was
left behind (no output file, no temporary file, the source untouched).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.cli import cli
from jpegai_eval.tasks.demo import DEMO_MARKER, write_demo_dataset

# ---------------------------------------------------------------------------- helpers


def invoke(args: list[str], **kwargs):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True, **kwargs)


def assert_clean_error(result, code: int, *phrases: str) -> str:  # type: ignore[no-untyped-def]
    """Exit ``code``, an ``Error:`` paragraph holding every phrase, no traceback."""
    text = result.output
    assert result.exit_code == code, (result.exit_code, text, result.exception)
    # CliRunner keeps an escaped exception here; a clean error is a SystemExit
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in text
    error = text[text.index("Error:") :]
    for phrase in phrases:
        assert phrase in error, (phrase, error)
    return error


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A valid MINC-layout dataset: 23 classes x 3 images (1 train / 1 val / 1 test),
    64x64 (the hyperprior's smallest input)."""
    root = tmp_path_factory.mktemp("minc")
    write_demo_dataset(root, per_class=3, size=64, seed=5)
    return root


@pytest.fixture
def root(dataset, tmp_path) -> Path:
    """A private copy of the dataset, for cases that damage it."""
    copy = tmp_path / "root"
    shutil.copytree(dataset, copy, symlinks=True)
    return copy


@pytest.fixture
def readonly(tmp_path) -> Path:
    """A folder nobody can write into (root ignores permission bits: then a /proc one)."""
    if os.geteuid() == 0:
        folder = Path("/proc/1/fdinfo")
        if not folder.is_dir():
            pytest.skip("no read-only folder for root on this system")
        yield folder
        return
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def png(path: Path, size: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def png16(path: Path, size: int = 16) -> Path:
    """A 16-bit RGB PNG (Pillow opens these as 8-bit RGB without a word)."""
    row = np.full((size, 3), 0x1234, dtype=">u2").tobytes()
    raw = b"".join(b"\x00" + row for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 16, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(data + chunk(b"IEND", b""))
    return path


def run_args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--codec",
        "hyperprior-msssim",
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
        "anchor3",
        "--out",
        out,
        *extra,
    ]


# ------------------------------------------------------------- the dataset (task check)


def _bad_categories(root: Path) -> None:
    (root / "categories.txt").write_bytes(b"brick\nfabric\xff\xfe\n")


def _long_label_line(root: Path) -> None:
    with open(root / "labels" / "train1.txt", "a") as fh:
        fh.write("images/brick/" + "x" * 5000 + ".jpg\n")


def _symlink_outside(root: Path) -> None:
    outside = root.parent / "secret.jpg"
    png(outside)
    target = root / "images" / "brick" / "brick_000000.jpg"
    target.unlink()
    target.symlink_to(outside)


def _non_utf8_name(root: Path) -> None:
    name = b"images/brick/caf\xe9.jpg"
    shutil.copy(
        root / "images" / "brick" / "brick_000001.jpg", os.fsdecode(bytes(root) + b"/" + name)
    )
    with open(root / "labels" / "test1.txt", "ab") as fh:
        fh.write(name + b"\n")


@pytest.mark.parametrize(
    "damage, phrases",
    [
        (_bad_categories, ["categories.txt", "is not UTF-8", "delete it"]),
        (_long_label_line, ["longer than 255 bytes", "5017 characters"]),
        (_symlink_outside, ["outside the dataset root", "brick_000000.jpg"]),
        (_non_utf8_name, ["not UTF-8", "caf\\xe9.jpg", "test1.txt line"]),
    ],
    ids=["categories-not-utf8", "label-line-5000-chars", "symlink-outside-root", "latin1-name"],
)
def test_dataset_problems_are_one_paragraph(root, damage, phrases):
    damage(root)
    result = invoke(["task", "check", "minc", "--data-root", root])
    error = assert_clean_error(result, 1, *phrases)
    assert "\ufffd" not in error


def test_utf8_bom_in_a_label_file_is_accepted(root):
    path = root / "labels" / "train1.txt"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = invoke(["task", "check", "minc", "--data-root", root])
    assert result.exit_code == 0, result.output
    assert "23 train" in result.output


# ------------------------------------------------------------------------ codec encode


ENCODE = ["codec", "encode", "--codec", "jpeg", "--quality", "4"]


def test_encode_onto_its_own_source_is_refused(tmp_path):
    source = png(tmp_path / "in.png")
    before = source.read_bytes()
    result = invoke([*ENCODE, source, tmp_path / "." / "in.png"])
    assert_clean_error(result, 2, "overwrite the source")
    assert source.read_bytes() == before and files_under(tmp_path) == {"in.png"}


def test_encode_into_a_read_only_folder(tmp_path, readonly):
    source = png(tmp_path / "in.png")
    result = invoke([*ENCODE, source, readonly / "out.jai"])
    assert_clean_error(result, 1, "Cannot write", "out.jai", "writable folder")
    assert not os.path.lexists(readonly / "out.jai")


def test_decompression_bomb_is_named_not_a_traceback(tmp_path, monkeypatch):
    source = png(tmp_path / "big.png", size=64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 > 2 x 1000: a "bomb"
    result = invoke([*ENCODE, source, tmp_path / "out.jai"])
    assert_clean_error(result, 1, "big.png", "too large to open safely")
    assert files_under(tmp_path) == {"big.png"}


def test_image_over_the_codecs_pixel_cap_is_refused(tmp_path, monkeypatch):
    source = png(tmp_path / "wide.png", size=64)
    monkeypatch.setenv("JPEGAI_EVAL_MAX_PIXELS", "1000")
    result = invoke([*ENCODE, source, tmp_path / "out.jai"])
    assert_clean_error(result, 1, "wide.png", "64x64 = 4,096 pixels", "JPEGAI_EVAL_MAX_PIXELS")
    assert files_under(tmp_path) == {"wide.png"}


def test_learned_codecs_cap_images_before_allocating():
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.errors import UserError

    codec = get_plugins().codecs.resolve("hyperprior-msssim", "compressai")
    assert codec.max_pixels == 4096 * 4096
    model = codec.load(1, weights="demo")
    too_big = np.zeros((4096, 4097, 3), np.uint8)
    with pytest.raises(UserError, match="4097x4096 = 16,781,312 pixels"):
        model.encode(too_big)  # refused before the model allocates anything


def test_16_bit_png_gets_its_note(tmp_path):
    source = png16(tmp_path / "deep.png")
    result = invoke([*ENCODE, source, tmp_path / "out.jai"])
    assert result.exit_code == 0, result.output
    assert "16-bit PNG reduced to 8 bits" in result.output


# --------------------------------------------------------------------------- data demo


def test_demo_overwrite_refuses_a_folder_it_did_not_write(tmp_path):
    real = tmp_path / "minc"
    (real / "images" / "brick").mkdir(parents=True)
    (real / "images" / "brick" / "brick_000000.jpg").write_bytes(b"precious")
    (real / "labels").mkdir()
    before = files_under(real)
    result = invoke(["data", "demo", real, "--overwrite", "--per-class", "3", "--size", "32"])
    assert_clean_error(result, 1, DEMO_MARKER, "not written by", "may be a real dataset")
    assert files_under(real) == before
    assert (real / "images" / "brick" / "brick_000000.jpg").read_bytes() == b"precious"


def test_demo_overwrite_replaces_a_demo_folder(tmp_path):
    folder = tmp_path / "demo"
    args = ["data", "demo", folder, "--per-class", "3", "--size", "32"]
    assert invoke(args).exit_code == 0
    assert (folder / DEMO_MARKER).is_file()
    result = invoke([*args, "--overwrite", "--seed", "1"])
    assert result.exit_code == 0, result.output


def test_demo_into_a_read_only_folder(readonly):
    result = invoke(["data", "demo", readonly / "demo", "--per-class", "3", "--size", "32"])
    assert_clean_error(result, 1, "Cannot write the demo dataset", "writable folder")
    assert not os.path.lexists(readonly / "demo")


# -------------------------------------------------------------------------------- run


def test_empty_qualities_is_a_usage_error(root, tmp_path):
    result = invoke(run_args(root, tmp_path / "out")[:-2] + ["--qualities", "", "--out", "x"])
    assert_clean_error(result, 2, "--qualities names no value")


def test_workers_beyond_the_cores_are_capped_with_a_note(root, tmp_path, monkeypatch):
    from jpegai_eval.cli import run as run_cli

    monkeypatch.setattr(run_cli, "usable_cores", lambda: 2)
    args = run_args(root, tmp_path / "out")
    args[args.index("--workers") + 1] = "64"
    args[args.index("--task") + 1] = "no-such-task"  # stop right after the options
    result = invoke(args)
    assert "--workers 64 is more than the 2 CPU core(s)" in result.output
    assert "using 2 worker(s)" in result.output
    assert_clean_error(result, 2, "no-such-task")


def test_run_into_a_read_only_folder(root, readonly, monkeypatch):
    from jpegai_eval.framework.run import evaluator

    monkeypatch.setattr(evaluator, "check_disk", lambda *a: None)  # /proc reports 0 B free
    result = invoke(run_args(root, readonly / "run"))
    assert_clean_error(result, 1, "output folder", "writable --out")


def test_run_json_that_is_a_list(root, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("[1, 2]")
    result = invoke(run_args(root, out))
    assert_clean_error(result, 1, "run.json", "not a jpegai-eval run record", "--force")
    assert files_under(out) == {"run.json"}


def test_run_into_a_folder_in_use(root, tmp_path):
    from jpegai_eval.framework.run.runlock import RunLock

    out = tmp_path / "run"
    with RunLock(out):
        result = invoke(run_args(root, out))
        assert_clean_error(result, 1, "in use by another run", f"pid {os.getpid()}")
    assert files_under(out) == set()


def _one_pixel_jpeg(root: Path) -> str:
    rel = "images/wood/wood_000000.jpg"
    Image.new("RGB", (1, 1), (90, 60, 30)).save(root / rel, format="JPEG")
    return rel


def _undecodable(root: Path) -> str:
    rel = "images/glass/glass_000001.jpg"
    (root / rel).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return rel


def _train_and_test_image(root: Path, rel_file: str) -> str:
    """Put the damaged image into the training split of partition 1."""
    rel = rel_file
    for split in ("train", "validate", "test"):
        path = root / "labels" / f"{split}1.txt"
        lines = [ln for ln in path.read_text().splitlines() if ln and ln != rel]
        if split == "train":
            lines.append(rel)
        path.write_text("\n".join(lines) + "\n")
    return rel


@pytest.mark.parametrize(
    "damage, why",
    [(_one_pixel_jpeg, "too small: 1x1, the minimum"), (_undecodable, "Cannot read")],
    ids=["1x1-jpeg", "undecodable"],
)
def test_bad_image_stops_the_run_naming_it(root, tmp_path, damage, why):
    rel = _train_and_test_image(root, damage(root))
    out = tmp_path / "run"
    result = invoke(run_args(root, out))
    assert_clean_error(result, 1, rel, why, "--skip-bad-images", "policy is 'stop'")
    assert not (out / "results.csv").exists() and not (out / "classifiers").exists()
    # Refused from the file's header before the first encode: the output folder is
    # never made (issue 28, item 2).
    assert not out.exists()


# ----------------------------------------------------------------------------- report


def _report_folder(tmp_path: Path, rows: list[dict], info=None) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "run"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    (folder / "run.json").write_text(json.dumps(info if info is not None else {"config": {}}))
    return folder


def _rows(**change) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = [
        {"codec": "original", "backend": "", "quality": None, "anchor": "anchor3"},
        {"codec": "jpeg", "backend": "pillow", "quality": 1, "anchor": "anchor1", "bpp": 0.3},
        {"codec": "jpeg", "backend": "pillow", "quality": 4, "anchor": "anchor1", "bpp": 0.9},
    ]
    for row in rows:
        row.update(top1=0.5, top5=0.9, n_test=23)
    rows[1].update(change)
    return rows


@pytest.mark.parametrize(
    "rows, phrases",
    [
        (_rows(top1="high"), ["row 3", "top1 = 'high'", "not a number"]),
        (_rows(quality="four"), ["quality = 'four'", "not a number"]),
        (_rows(n_test="many"), ["n_test = 'many'", "not a number"]),
        (_rows(quality=4.5), ["quality = 4.5", "whole"]),
        (_rows(top1=1e308), ["top1 = 1e+308", "between 0 and 1"]),
        (_rows(quality=4), ["row 4 repeats an earlier row", "anchor 'anchor1'"]),
    ],
    ids=["text-top1", "text-quality", "text-n_test", "quality-4.5", "top1-1e308", "duplicate"],
)
def test_report_refuses_impossible_results(tmp_path, rows, phrases):
    folder = _report_folder(tmp_path, rows)
    before = files_under(folder)
    result = invoke(["report", folder])
    assert_clean_error(result, 1, "results.csv", *phrases)
    assert files_under(folder) == before


def test_report_run_json_that_is_a_list(tmp_path):
    folder = _report_folder(tmp_path, _rows(), info=[1, 2])
    result = invoke(["report", folder, "--format", "html"])
    assert_clean_error(result, 1, "run.json", "not a jpegai-eval run record")
    assert not (folder / "report.html").exists()


def test_report_into_a_read_only_folder(tmp_path, readonly):
    folder = _report_folder(tmp_path, _rows())
    result = invoke(["report", folder, "--out", readonly / "reports"])
    assert_clean_error(result, 1, "Cannot write the", "writable --out")


def _figure2_folder(tmp_path: Path, image_id: str, original_copy: str | None = None) -> Path:
    """A run folder whose per_image.csv names one test image and, optionally, the copy
    of its original (reports read originals only from there, never by image id)."""
    folder = _report_folder(tmp_path, _rows())
    per_image = pd.DataFrame(
        [{"image_id": image_id, "split": "test", "label": "brick", "codec": "jpeg",
          "backend": "pillow", "quality": 1, "original_copy": original_copy,
          "pred_anchor3": "brick"}]
    )  # fmt: skip
    per_image.to_csv(folder / "per_image.csv", index=False)
    return folder


def test_report_never_embeds_an_image_outside_the_run_folder(tmp_path):
    secret = png(tmp_path / "secret.png", size=40, seed=9)
    cases = [
        ("../secret.png", None),  # an image id is never read as a path
        ("images/x.png", "../secret.png"),  # a copy that leads out of the run folder
        ("images/x.png", "originals/link.png"),  # a symlink out of the run folder
    ]
    for image_id, original_copy in cases:
        shutil.rmtree(tmp_path / "run", ignore_errors=True)
        folder = _figure2_folder(tmp_path, image_id, original_copy)
        (folder / "originals").mkdir()
        (folder / "originals" / "link.png").symlink_to(secret)
        result = invoke(["report", folder, "--format", "html"])
        assert result.exit_code == 0, result.output
        html = (folder / "report.html").read_text()
        assert "original image not copied into the run folder" in html
        assert html.count("data:image/png;base64") == 0, (image_id, original_copy)


def test_report_with_a_decompression_bomb_original(tmp_path, monkeypatch):
    folder = _figure2_folder(tmp_path, "images/big.png", "originals/big.png")
    (folder / "originals").mkdir()
    png(folder / "originals" / "big.png", size=64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    result = invoke(["report", folder, "--format", "html"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "original image not copied into the run folder" in (folder / "report.html").read_text()


def test_decompression_bomb_inside_a_run_names_the_file(root, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # every 64x64 image is a "bomb"
    out = tmp_path / "run"
    args = run_args(root, out)
    args[args.index("--codec") + 1] = "jpeg"  # a quick codec: the image fails, not the codec
    del args[args.index("--weights") : args.index("--weights") + 2]
    result = invoke(args)
    assert_clean_error(result, 1, "too large to open safely", str(root / "images"))
    assert not (out / "results.csv").exists()


@pytest.mark.parametrize("option", ["--weights", "--imagenet-weights"])
def test_weights_errors_never_advise_weights_only_false(root, tmp_path, option):
    import pickle

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"state_dict": {"x": Path("object")}}))  # not plain tensors
    if option == "--weights":
        args = ["codec", "encode", "--codec", "hyperprior-msssim", "--quality", "1"]
        result = invoke([*args, "--weights", bad, png(tmp_path / "in.png"), tmp_path / "o.jai"])
    else:
        result = invoke(run_args(root, tmp_path / "run", "--imagenet-weights", str(bad)))
    error = assert_clean_error(result, 1, "evil.pt")
    assert "weights_only" not in error.replace("weights_only=True", "")
    assert "False" not in error


# ---------------------------------------------------------- a finished run, damaged


@pytest.fixture(scope="module")
def finished_run(dataset, tmp_path_factory) -> tuple[Path, Path]:
    """(dataset, run folder): anchor 3 and the compressed anchor, with one undecodable
    test image skipped under --skip-bad-images."""
    data = tmp_path_factory.mktemp("data") / "root"
    shutil.copytree(dataset, data)
    bad = (data / "labels" / "test1.txt").read_text().split()[0]
    (data / bad).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path_factory.mktemp("runs") / "run"
    args = run_args(data, out, "--skip-bad-images")
    args[args.index("--anchors") + 1] = "anchor3,compressed"
    result = invoke(args)
    assert result.exit_code == 0, result.output
    return data, out


def _rerun(data: Path, folder: Path):  # type: ignore[no-untyped-def]
    args = run_args(data, folder, "--skip-bad-images")
    args[args.index("--anchors") + 1] = "anchor3,compressed"
    return invoke(args)


@pytest.mark.slow
def test_skipped_images_are_listed_in_run_json_and_the_report(finished_run):
    data, out = finished_run
    bad = (data / "labels" / "test1.txt").read_text().split()[0]
    info = json.loads((out / "run.json").read_text())
    assert info["corrupt_image_policy"] == "skip" and list(info["skipped_images"]) == [bad]
    results = pd.read_csv(out / "results.csv")
    assert (results["n_test"] == 22).all()
    html = (out / "report.html").read_text()
    assert "Skipped images" in html and bad in html


def _classifier(folder: Path, domain: str) -> Path:
    return next((folder / "classifiers").glob(f"{domain}-*"))


def _cell(folder: Path, anchor: str) -> Path:
    return next((folder / "cells").glob(f"{anchor}*.json"))


def _no_row(folder: Path) -> tuple[Path, str]:
    cell = _cell(folder, "anchor3")
    cell.write_text(json.dumps({"predictions": {}}))
    return cell, "redoes that step"


def _truncated_model_pt(folder: Path) -> tuple[Path, str]:
    model = _classifier(folder, "pixel") / "model.pt"
    model.write_bytes(model.read_bytes()[:1000])
    _cell(folder, "anchor3").unlink()
    return model.parent, "is damaged"


def _corrupt_model_onnx(folder: Path) -> tuple[Path, str]:
    model = _classifier(folder, "pixel") / "model.onnx"
    model.write_bytes(b"not an onnx graph" * 10)
    _cell(folder, "anchor3").unlink()
    return model.parent, "ONNX Runtime cannot load it"


def _swapped_model_onnx(folder: Path) -> tuple[Path, str]:
    pixel = _classifier(folder, "pixel")
    shutil.copy(_classifier(folder, "latent") / "model.onnx", pixel / "model.onnx")
    _cell(folder, "anchor3").unlink()
    return pixel, "does not match"


def _truncated_latents(folder: Path) -> tuple[Path, str]:
    for npz in (folder / "cache").rglob("*.npz"):
        npz.write_bytes(npz.read_bytes()[:100])
    _cell(folder, "compressed").unlink()
    return folder / "cache", "delete that file and rerun"


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage, logged",
    [(_no_row, "is damaged"), (_truncated_latents, "re-encoding it")],
    ids=["cell-without-row", "npz"],
)
def test_a_damaged_cell_or_cache_entry_is_redone_and_logged(finished_run, tmp_path, damage, logged):
    """Issue 28, item 5: the tool's own derived files (a cell record, a cache entry) are
    redone with a log line naming them, not blamed on the dataset or left to the user."""
    data, out = finished_run
    folder = tmp_path / "run"
    shutil.copytree(out, folder)
    culprit, _ = damage(folder)
    result = _rerun(data, folder)
    assert result.exit_code == 0, result.output
    log = (folder / "run.log").read_text()
    assert logged in log
    columns = ["anchor", "top1", "top5", "n_test"]
    pd.testing.assert_frame_equal(
        pd.read_csv(folder / "results.csv")[columns], pd.read_csv(out / "results.csv")[columns]
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage",
    [_truncated_model_pt, _corrupt_model_onnx, _swapped_model_onnx],
    ids=["truncated-model.pt", "corrupt-model.onnx", "swapped-onnx"],
)
def test_damaged_run_folder_names_the_file_and_the_fix(finished_run, tmp_path, damage):
    data, out = finished_run
    folder = tmp_path / "run"
    shutil.copytree(out, folder)
    culprit, phrase = damage(folder)
    result = _rerun(data, folder)
    error = assert_clean_error(result, 1, str(culprit), phrase)
    assert "weights_only" not in error
    assert not (folder / ".lock").exists()


def test_a_too_small_image_is_called_too_small_not_unreadable(root, tmp_path):
    """Issue 28, item 14: an image below a codec's smallest size was reported as
    "unreadable"; it is "too small: WxH, the minimum is ..."."""
    rel = _train_and_test_image(root, _one_pixel_jpeg(root))
    result = invoke(run_args(root, tmp_path / "run"))
    error = assert_clean_error(result, 1, rel, "too small: 1x1, the minimum", "64x64")
    assert "unreadable" not in error


def test_no_raw_decompression_bomb_warning_before_the_clean_error(tmp_path):
    """Issue 28, item 14: an image above Pillow's MAX_IMAGE_PIXELS (but below twice it)
    printed Pillow's raw DecompressionBombWarning before the codec's clean error."""
    import subprocess
    import sys

    image = png(tmp_path / "big.png", size=40)  # 1,600 pixels
    program = (
        "from PIL import Image\n"
        "Image.MAX_IMAGE_PIXELS = 1000\n"  # 1,600 is above it, below twice it: a warning
        "from jpegai_eval.cli import main\n"
        f"main(['codec', 'encode', '--codec', 'jpeg', '--quality', '4', {str(image)!r}, "
        f"{str(tmp_path / 'o.jai')!r}])\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", program],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JPEGAI_EVAL_MAX_PIXELS": "1000"},
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "The image is too large: 40x40 = 1,600 pixels, more than" in done.stderr, done.stderr
    assert "DecompressionBombWarning" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o.jai").exists()


def test_a_parity_miss_on_alike_inputs_names_an_untrained_codec_not_a_damaged_file(tmp_path):
    """ONNX/PyTorch parity fails on a batch whose inputs are all the same (an untrained
    codec's y_hat: batch norm amplifies rounding): the error says so instead of blaming
    the ONNX file; on varied inputs a mismatch still means a replaced or damaged file."""
    import torch

    from jpegai_eval.framework.run import classify
    from jpegai_eval.framework.run.runfolder import RunFolder

    torch.manual_seed(0)
    alike = torch.full((4, 8, 4, 4), 0.003) + 1e-7 * torch.rand(4, 8, 4, 4)
    assert classify._all_alike(alike)
    assert not classify._all_alike(torch.rand(4, 8, 4, 4))
    assert not classify._all_alike(alike[:1])  # one image: nothing to compare
    folder = RunFolder(tmp_path).classifier("latent-latents-x-q1")
    error = classify.degenerate_inputs(folder, "max logit difference 9e-02 > 1e-03", _Cell())
    assert "untrained" in error.message and str(folder.root) in error.message
    assert "replaced or damaged" not in error.message


class _Cell:
    name = "compressed-x-q1"
