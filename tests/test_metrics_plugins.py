"""Metrics as plugins: the records, the selection by name, the built-in set, and the
``jpegai-eval metrics`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegai_eval import hookimpl
from jpegai_eval.framework.api.metric_types import (
    RGB8,
    ImagePair,
    Metric,
    MetricUnavailableError,
    compute_metrics,
    select_metrics,
)
from jpegai_eval.framework.api.plugins import make_plugin_manager
from jpegai_eval.framework.errors import DuplicateIdError, UnknownNameError, UsageError
from jpegai_eval.framework.quality.metrics import quality_metrics

JPEGAI = [
    "psnr_y",
    "psnr_u",
    "psnr_v",
    "ms_ssim_y",
    "iw_ssim",
    "vif",
    "fsim",
    "nlpd",
    "psnr_hvs",
    "psnr_hvs_m",
    "vmaf",
]


@pytest.fixture
def plugins():
    return make_plugin_manager(load_external=False)


def pair(h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_builtin_sets(plugins):
    metrics = list(plugins.metrics)
    fast = [m.id for m in select_metrics("fast", metrics)]
    assert fast == ["psnr_rgb", "ms_ssim_rgb", "ssim_rgb", "psnr_y"]
    assert [m.id for m in select_metrics("jpegai", metrics)] == JPEGAI
    assert [m.id for m in select_metrics("all", metrics)] == [m.id for m in metrics]
    # Sets and ids mix; each metric once, in registration order.
    mixed = select_metrics("vmaf,fast,psnr_y", metrics)
    assert [m.id for m in mixed] == [*fast, "vmaf"]
    assert plugins.metrics.get("nlpd").higher_is_better is False
    assert plugins.metrics.get("psnr_u").convention.plane == "U"
    assert plugins.metrics.get("psnr_rgb").column_name == "psnr"


def test_unknown_metric_lists_the_known_ones(plugins):
    with pytest.raises(UnknownNameError) as exc:
        select_metrics("psnr_y,ssim_y", plugins.metrics)
    assert "'ssim_y'" in exc.value.message and "jpegai" in exc.value.message
    with pytest.raises(UsageError, match="names no metric"):
        select_metrics(" , ", plugins.metrics)


def test_rgb_metrics_keep_todays_values(plugins):
    a, b = pair(180, 200)
    old = quality_metrics(a, b)
    new = compute_metrics(
        [plugins.metrics.get(i) for i in ("psnr_rgb", "ms_ssim_rgb", "ssim_rgb")],
        [ImagePair(a, b)],
    )[0].values
    assert new == {"psnr_rgb": old["psnr"], "ms_ssim_rgb": old["ms_ssim"], "ssim_rgb": old["ssim"]}


def test_a_metric_batch_gives_one_value_per_pair(plugins):
    pairs = [ImagePair(*pair(seed=s)) for s in range(3)]
    values = plugins.metrics.get("psnr_y")(pairs)
    singles = [plugins.metrics.get("psnr_y")([p])[0] for p in pairs]
    assert values == singles and len(set(values)) == 3


def test_an_unavailable_metric_is_reported_not_skipped():
    ok = Metric("ok", True, "", RGB8, lambda pairs: [1.0] * len(pairs))
    missing = Metric("gone", True, "", RGB8, lambda pairs: [], unavailable_reason="no tool")
    [row] = compute_metrics([ok, missing], [ImagePair(*pair())])
    assert row.values == {"ok": 1.0} and row.unavailable == {"gone": "no tool"}
    with pytest.raises(MetricUnavailableError, match="'gone' cannot run here: no tool"):
        missing([ImagePair(*pair())])


def test_a_plugin_metric_registers_and_a_duplicate_id_is_refused(plugins):
    class Extra:
        @hookimpl
        def register_metrics(self, register):
            register(Metric("mean_abs", False, "", RGB8, lambda ps: [0.0 for _ in ps]))

    plugins.pm.register(Extra(), name="extra")
    assert plugins.metrics.origin("mean_abs").plugin == "extra"

    again = make_plugin_manager(load_external=False)

    class Dup:
        @hookimpl
        def register_metrics(self, register):
            register(Metric("psnr_y", True, "dB", RGB8, lambda ps: []))

    again.pm.register(Dup(), name="dup")
    with pytest.raises(DuplicateIdError, match="'psnr_y'.*jpegai_eval.plugins.metrics.*'dup'"):
        again.metrics  # noqa: B018


def test_pairs_of_other_shapes_or_types_are_refused():
    a, b = pair()
    with pytest.raises(UsageError, match="differ in size: 56x40 vs 55x40"):
        ImagePair(a, b[:, :55])
    with pytest.raises(UsageError, match="not 8-bit RGB"):
        ImagePair(a.astype(np.float32), b)


# ------------------------------------------------------------------ the command


def _files(tmp_path, h=48, w=64):
    a, b = pair(h, w, seed=4)
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(a).save(pa)
    Image.fromarray(b).save(pb)
    return pa, pb, a, b


def _cli():
    from jpegai_eval.cli import cli

    return cli


def test_metrics_command_json_has_every_jpegai_key(tmp_path):
    pa, pb, a, b = _files(tmp_path)
    result = CliRunner().invoke(
        _cli(), ["metrics", str(pa), str(pb), "--metrics", "jpegai", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    unavailable = out.pop("unavailable", {})
    assert sorted([*out, *unavailable]) == sorted(JPEGAI)
    from jpegai_eval.framework.quality.vm_metrics import psnr_plane

    assert out["psnr_y"] == psnr_plane([ImagePair(a, b)], "Y")[0]


def test_metrics_command_table_and_default_set(tmp_path):
    pa, pb, _, _ = _files(tmp_path)
    result = CliRunner().invoke(_cli(), ["metrics", str(pa), str(pb)])
    assert result.exit_code == 0, result.output
    keys = [line.split()[0] for line in result.output.splitlines()]
    assert keys == ["psnr_rgb", "ms_ssim_rgb", "ssim_rgb", "psnr_y"]


def test_metrics_command_refuses_bad_input_in_one_paragraph(tmp_path, console_script):
    import subprocess

    pa, _, _, _ = _files(tmp_path)
    small = tmp_path / "small.png"
    Image.fromarray(pair(40, 30)[0]).save(small)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    for other, expected in ((small, "differ in size"), (junk, "Cannot read")):
        proc = subprocess.run(
            [console_script, "metrics", str(pa), str(other)], capture_output=True, text=True
        )
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr and expected in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_vmaf_refuses_images_libvmaf_crashes_on(tmp_path, console_script):
    """ffmpeg's libvmaf dies (SIGSEGV) on images of 16 px or fewer on a side: VMAF asked
    for by name fails in one paragraph before ffmpeg runs; brought by a set it is listed
    as unavailable for this pair, with the reason, and the other metrics are computed."""
    import subprocess

    pa, pb, _, _ = _files(tmp_path, h=16, w=40)
    proc = subprocess.run(
        [console_script, "metrics", str(pa), str(pb), "--metrics", "psnr_y,vmaf"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "40x16 pixels" in proc.stderr, proc.stderr
    assert "at least 17 pixels" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    result = CliRunner().invoke(
        _cli(), ["metrics", str(pa), str(pb), "--metrics", "jpegai", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert "at least 17 pixels" in out["unavailable"]["vmaf"]
    assert sorted(out) == sorted([k for k in JPEGAI if k != "vmaf"] + ["unavailable"])


def test_a_run_refuses_test_images_too_small_for_a_metric_before_any_work(tmp_path):
    """The run's pre-flight (:func:`unusable_images`) checks the images whose fidelity is
    measured (the test split) against the selected metrics' smallest side; the others
    only against the codecs."""
    from jpegai_eval.framework.api.types import Sample
    from jpegai_eval.framework.run.encode_stage import unusable_images

    plugins = make_plugin_manager(load_external=False)
    vmaf = plugins.metrics.get("vmaf")
    pa, pb, _, _ = _files(tmp_path, h=16, w=40)
    (tmp_path / "big").mkdir()
    big, _, _, _ = _files(tmp_path / "big")
    samples = [Sample("test/a", pa, 0), Sample("train/b", pb, 0), Sample("test/big", big, 1)]
    problems = unusable_images(samples, [], [vmaf], measured={"test/a", "test/big"})
    assert list(problems) == ["test/a"]
    assert str(pa) in problems["test/a"] and "vmaf" in problems["test/a"]
    assert unusable_images(samples, [], [vmaf], measured=()) == {}


def test_codec_eval_takes_metrics(tmp_path):
    from jpegai_eval.framework.io.image_io import read_image

    folder = tmp_path / "images"
    folder.mkdir()
    pa, _, a, _ = _files(folder)
    (folder / "b.png").unlink()
    result = CliRunner().invoke(
        _cli(),
        [
            "codec",
            "eval",
            "--codec",
            "jpeg",
            "--quality",
            "2",
            "--data",
            str(folder),
            "--metrics",
            "fast,nlpd",
        ],
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert {"psnr", "ms_ssim", "ssim", "psnr_y", "nlpd"} <= set(row)
    # The values are those of the JPEG round trip of the image.
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.quality.vm_metrics import nlpd, psnr_plane

    model = get_plugins().codecs.resolve("jpeg").load(2)
    decoded = model.decode(model.encode(read_image(pa)))
    assert row["psnr_y"] == pytest.approx(psnr_plane([ImagePair(a, decoded)], "Y")[0], abs=1e-5)
    assert row["nlpd"] == pytest.approx(nlpd([ImagePair(a, decoded)])[0], abs=1e-5)


def test_codec_eval_refuses_an_image_too_small_for_a_metric_before_coding(tmp_path, monkeypatch):
    """`codec eval --metrics` with VMAF checks every image's size from its header first:
    the error names the small file, and no image has been coded."""
    from jpegai_eval.framework.quality import metrics as quality

    folder = tmp_path / "images"
    folder.mkdir()
    _files(folder)  # a.png and b.png, 64x48
    Image.fromarray(pair(12, 40)[0]).save(folder / "c_small.png")

    def no_coding(*args, **kwargs):
        raise AssertionError("an image was coded before the sizes were checked")

    monkeypatch.setattr(quality, "measure", no_coding)
    args = ["codec", "eval", "--codec", "jpeg", "--quality", "2", "--data", str(folder)]
    result = CliRunner().invoke(_cli(), [*args, "--metrics", "psnr_y,vmaf"])
    assert result.exit_code == 1, result.output
    assert "c_small.png is 40x12 pixels" in result.output and "vmaf" in result.output


def test_codec_eval_with_vmaf_names_an_unreadable_image_in_one_paragraph(tmp_path):
    """The size pre-check reads headers only and leaves a file it cannot read to the
    reading, whose error names it (no Pillow traceback)."""
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "bad.png").write_bytes(b"not an image")
    args = ["codec", "eval", "--codec", "jpeg", "--quality", "2", "--data", str(folder)]
    result = CliRunner().invoke(_cli(), [*args, "--metrics", "psnr_y,vmaf"])
    assert result.exit_code == 1, result.output
    assert "Cannot read" in result.output and "bad.png" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
