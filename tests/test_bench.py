"""``jpegai-eval bench``: it runs at tiny sizes, writes every figure, and its ratios are
the ratios of its medians. No timing is asserted: these machines are noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jpegai_eval.bench import measure as bench
from jpegai_eval.cli import cli
from jpegai_eval.codecs import rans
from jpegai_eval.framework.errors import UserError

STAGES_PIXEL = ["entropy_decode_z", "h_s", "entropy_decode_y", "g_s", "preprocess", "resnet50"]
STAGES_COMPRESSED = ["entropy_decode_z", "h_s", "entropy_decode_y", "preprocess", "cresnet39"]
TINY = [
    "--images", "2", "--size", "64", "--reps", "2", "--warmup", "1", "--batch", "1,2",
    "--batch-reps", "1", "--encode-images", "2", "--encode-reps", "1",
    "--loader-images", "2", "--train-preset", "quick", "--train-batch", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from jpegai_eval.codecs.testing import write_tiny_checkpoint

    path = tmp_path_factory.mktemp("weights") / "tiny-q1.pt"
    write_tiny_checkpoint(path, quality=1)
    return path


@pytest.fixture(scope="module")
def bench_run(tiny_weights, tmp_path_factory):
    """One full bench (every section, 1 and 2 workers) through the command line."""
    out = tmp_path_factory.mktemp("bench") / "out.json"
    result = CliRunner().invoke(
        cli, ["bench", *TINY, "--weights", str(tiny_weights), "--json", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return result.output, json.loads(out.read_text()), out


def _median(entry):
    return entry["median_ms"]


def test_prints_the_tables_and_targets(bench_run):
    output, _, out = bench_run
    for text in (
        "Inference per image, quality 1, batch 1",
        "Inference per image, quality 1, batch 2",
        "Classifiers per image",
        "Encode, quality 1",
        "pixel / compressed:",
        "Targets",
        "pixel_over_compressed",
        "ort_over_torch",
        "encode_overhead",
        "workers_speedup",
        "Training loader per core and training loop (images/s)",
        "loader today: decode-once rows, tabled float steps",
        "bare loop, fast kernels (the mode's cost: bare / this)",
        "framework train_classifier, loading included",
        "framework, loading taken out (derived)",
        "loader_speedup",
        "train_over_bare",
        f"rANS decoder {rans.DECODER}, OMP_WAIT_POLICY",
        f"wrote {out}",
    ):
        assert text in output


def test_json_holds_every_figure(bench_run):
    _, result, _ = bench_run
    assert result["schema"] == bench.SCHEMA
    machine = result["machine"]
    for key in ("cpu_count", "torch", "onnxruntime", "threads", "ort_providers", "device"):
        assert machine[key] is not None
    assert machine["rans_decoder"] == rans.DECODER  # which entropy decoder was timed
    q1 = result["qualities"]["1"]
    assert q1["N"] == 8 and q1["M"] == 12 and "tiny-q1.pt" in q1["weights"]
    assert q1["bitstreams"]["bpp_mean"] > 0
    b1 = q1["inference"]["batches"]["1"]["pipelines"]
    assert set(b1) == {f"{p}/{t}" for p in bench.PIPELINES for t in bench.TRANSFORMS}
    for name, entry in b1.items():
        stages = STAGES_PIXEL if name.startswith("pixel") else STAGES_COMPRESSED
        assert list(entry["per_image"]) == [*stages, "total"]
        for st in entry["per_image"].values():
            assert st["n"] == 2 and len(st["samples_ms"]) == 2
            assert st["p10_ms"] <= st["median_ms"] <= st["p90_ms"]
    b2 = q1["inference"]["batches"]["2"]
    assert len(b2["pipelines"]) == 2 and b2["reps"] == 1
    macs = q1["inference"]["macs"]
    assert set(macs["stages"]) == set(STAGES_PIXEL) | set(STAGES_COMPRESSED)
    assert macs["stages"]["g_s"] > 0 and macs["stages"]["resnet50"] > macs["stages"]["cresnet39"]
    assert (
        macs["pixel"] == macs["stages"]["h_s"] + macs["stages"]["g_s"] + macs["stages"]["resnet50"]
    )
    clf = result["classifiers"]["batches"]
    assert set(clf) == {"1", "2"}
    assert set(clf["1"]["models"]) == {
        "resnet50/onnxruntime", "resnet50/torch", "cresnet39/onnxruntime", "cresnet39/torch"
    }  # fmt: skip
    enc = result["encode"]
    assert set(enc["per_image"]) == {"plugin_encode", "compressai_compress"}
    assert set(enc["encode_stage"]["workers"]) == {"1", "2"}
    assert set(enc["encode_stage"]["speedup_2_over_1"]) == {
        "excluding_startup",
        "including_startup",
    }
    loader = result["training"]["loader_per_core"]
    assert set(loader["images_per_s"]) == {"decoded_every_epoch", "decode_once"}
    assert loader["images"] == 2 and loader["resize"] == 256 and loader["preset"] == "paper"
    assert loader["same_batches"] is True  # decode-once rows give the old path's batches
    train = result["training"]["train_over_bare"]
    assert train["preset"] == "quick" and train["batch"] == 2 and train["steps"] == 2
    assert train["model"] == "ResNet50DeepStem" and train["width"] == 0.25
    for contender in ("framework", "bare", "loading", "bare_fast_kernels"):
        assert train["images_per_s"][contender] > 0
        assert train["per_image"][contender]["n"] == 1
    assert set(result["targets"]) == set(bench.TARGETS)
    for name, target in result["targets"].items():
        assert set(target) == {"value", "target", "op", "passed", "what"}
        if name != "workers_speedup":  # a marginal rate over 1 image may not exist
            assert target["passed"] in (True, False) and target["value"] is not None


def test_json_has_the_declared_shape(bench_run):
    """bench.json is typed by jpegai_eval.reports.bench_json: every section holds the
    keys its TypedDict declares, and no other."""
    from jpegai_eval.reports import bench_json as shape

    def keys(declared):
        return set(declared.__required_keys__) | set(declared.__optional_keys__)

    def fits(data, declared):
        return declared.__required_keys__ <= set(data) <= keys(declared)

    _, result, _ = bench_run
    assert fits(result, shape.BenchResult) and fits(result["machine"], shape.MachineInfo)
    q1 = result["qualities"]["1"]
    assert fits(q1, shape.QualityEntry) and fits(q1["bitstreams"], shape.BitstreamSummary)
    assert fits(q1["inference"], shape.InferenceSection)
    assert fits(q1["inference"]["batches"]["1"], shape.InferenceBatch)
    assert fits(q1["inference"]["macs"], shape.InferenceMacs)
    assert all(fits(c, shape.StagedCheck) for c in q1["checks"].values())
    assert fits(result["classifiers"], shape.ClassifiersSection)
    assert fits(result["classifiers"]["batches"]["1"], shape.ClassifierBatch)
    assert fits(result["encode"], shape.EncodeSection)
    assert fits(result["encode"]["encode_stage"], shape.EncodeStageSummary)
    assert fits(result["training"]["loader_per_core"], shape.LoaderJson)
    assert fits(result["training"]["train_over_bare"], shape.TrainSpeedJson)
    assert all(fits(t, shape.Judgement) for t in result["targets"].values())


def test_ratios_are_the_ratios_of_the_medians(bench_run):
    _, result, _ = bench_run
    inference = result["qualities"]["1"]["inference"]["batches"]
    b1 = inference["1"]
    med = {k: _median(v["per_image"]["total"]) for k, v in b1["pipelines"].items()}
    for t in bench.TRANSFORMS:
        assert b1["pixel_over_compressed"][t] == pytest.approx(
            med[f"pixel/{t}"] / med[f"compressed/{t}"], rel=1e-3, abs=1e-4
        )
    best = b1["best_transforms"]
    assert med[f"pixel/{best['pixel']}"] == min(med[f"pixel/{t}"] for t in bench.TRANSFORMS)
    assert b1["pixel_over_compressed"]["best"] == pytest.approx(
        med[f"pixel/{best['pixel']}"] / med[f"compressed/{best['compressed']}"], rel=1e-3, abs=1e-4
    )
    assert (
        result["targets"]["pixel_over_compressed"]["value"] == b1["pixel_over_compressed"]["best"]
    )
    clf = result["classifiers"]["batches"]["1"]
    for name, value in clf["torch_over_onnxruntime"].items():
        models = clf["models"]
        expected = _median(models[f"{name}/torch"]) / _median(models[f"{name}/onnxruntime"])
        assert value == pytest.approx(expected, rel=1e-3, abs=1e-4)
    assert result["targets"]["ort_over_torch"]["value"] == min(
        clf["torch_over_onnxruntime"].values()
    )
    enc = result["encode"]
    assert enc["overhead"] == pytest.approx(
        _median(enc["per_image"]["plugin_encode"])
        / _median(enc["per_image"]["compressai_compress"]),
        rel=1e-3,
        abs=1e-4,  # the JSON rounds ratios to 4 decimals
    )
    speed = enc["encode_stage"]["speedup_2_over_1"]
    workers = enc["encode_stage"]["workers"]
    assert speed["including_startup"] == pytest.approx(
        workers["2"]["images_per_s_including_startup"]
        / workers["1"]["images_per_s_including_startup"],
        rel=1e-3,
        abs=1e-4,  # the JSON rounds ratios to 4 decimals
    )


def test_training_ratios_are_the_ratios_of_the_rates(bench_run):
    _, result, _ = bench_run
    loader = result["training"]["loader_per_core"]
    ips = loader["images_per_s"]
    assert ips["decode_once"] == pytest.approx(
        loader["images"] / (_median(loader["pass"]["decode_once"]) / 1e3), rel=1e-3
    )
    speedup = ips["decode_once"] / ips["decoded_every_epoch"]
    assert loader["decode_once_over_old"] == pytest.approx(speedup, rel=1e-3)
    assert result["targets"]["loader_speedup"]["value"] == loader["decode_once_over_old"]
    train = result["training"]["train_over_bare"]
    rate = {c: 1e3 / _median(train["per_image"][c]) for c in ("framework", "bare")}
    assert train["images_per_s"]["bare"] == pytest.approx(rate["bare"], rel=1e-3)
    assert train["with_loading"] == pytest.approx(rate["framework"] / rate["bare"], rel=1e-3)
    # the value: the framework's time with its loading taken out, over the bare loop's
    left = _median(train["per_image"]["framework"]) - _median(train["per_image"]["loading"])
    assert left > 0
    expected = _median(train["per_image"]["bare"]) / left
    assert train["value"] == pytest.approx(expected, rel=1e-3)
    assert result["targets"]["train_over_bare"]["value"] == train["value"]
    # the cost of the mode's kernels: the bare loop in the mode over it with fast ones
    fast = 1e3 / _median(train["per_image"]["bare_fast_kernels"])
    assert train["deterministic_over_fast_kernels"] == pytest.approx(rate["bare"] / fast, rel=1e-3)
    assert train["training_mode"]["deterministic"] is True  # the CPU default


def test_encode_stage_summary_from_known_walls():
    """Throughputs, marginal rates and ratios of the encode stage, from walls keyed by
    (workers, images) runs: 4 images and 2, 1 and 2 workers, and the raw loop."""
    run = bench.StageRun
    times = bench.EncodeStageTimes(
        walls={
            run(1, 4): [2.0, 2.2, 1.8],
            run(1, 2): [1.0],
            run(2, 4): [1.5],
            run(2, 2): [1.0],
            run(0, 4): [1.0],
        },
        job_s={w: {k: [0.01] for k in bench.JOB_STAGES} for w in (1, 2)},
        effective={run(1, 4): 1, run(1, 2): 1, run(2, 4): 2, run(2, 2): 2},
    )
    config = bench.BenchConfig(encode_reps=3, workers=[1, 2])
    stage = bench.encode_stage_summary(times, config, 4, "fork")  # rates rounded to 4 places
    one, two = stage["workers"]["1"], stage["workers"]["2"]
    assert one["images_per_s_including_startup"] == 2.0  # 4 images / median 2.0 s
    assert one["images_per_s_excluding_startup"] == 2.0  # (4 - 2) / (2.0 - 1.0)
    assert two["images_per_s_excluding_startup"] == 4.0  # (4 - 2) / (1.5 - 1.0)
    assert two["startup_s_estimate"] == 0.5 and two["effective_workers"] == {"4": 2, "2": 2}
    assert stage["speedup_2_over_1"] == {"excluding_startup": 2.0, "including_startup": 1.3334}
    assert stage["raw_compressai"]["images_per_s"] == 4.0
    assert stage["over_raw"] == 0.5
    assert one["per_job"]["encode_ms"]["median_ms"] == 10.0


def test_staged_pipelines_match_the_codec(bench_run):
    """The bench's PyTorch stages give exactly what decode() and latents() give."""
    _, result, _ = bench_run
    checks = result["qualities"]["1"]["checks"]
    assert checks["torch"] == {
        "decoded_max_abs_diff": 0, "y_hat_equal": True, "sigma_hat_max_abs_diff": 0.0
    }  # fmt: skip
    # onnxruntime's h_s is not bit-exact (sigma_hat within ~1e-8); reported, not asserted.
    assert set(checks["onnxruntime"]) == set(checks["torch"])


def test_summary_for_report(bench_run, tmp_path):
    _, result, out = bench_run
    summary = bench.bench_summary_for_report(out)
    assert summary["codec"] == result["codec"]
    assert [t["name"] for t in summary["targets"]] == list(bench.TARGETS)
    # inference batch 1 and 2, metric cost, classifiers, encode, training
    assert len(summary["tables"]) == 6
    for table in summary["tables"]:
        assert table["title"] and table["columns"]
        for row in table["rows"]:
            assert len(row) == len(table["columns"])
            assert all(isinstance(cell, str) for cell in row)
    bad = tmp_path / "bench.json"
    bad.write_text("{}")
    with pytest.raises(UserError, match="not a jpegai-eval benchmark file"):
        bench.bench_summary_for_report(bad)
    with pytest.raises(UserError, match="Cannot read benchmark results"):
        bench.bench_summary_for_report(tmp_path / "missing.json")


def test_run_dir_writes_bench_json(tiny_weights, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = {
        "codecs": ["jpeg", "hyperprior-msssim"],
        "qualities": [1],
        "weights": str(tiny_weights),
    }
    (run / "run.json").write_text(json.dumps({"config": config}))
    result = CliRunner().invoke(
        cli,
        ["bench", "--run-dir", str(run), "--only", "encode", "--workers", "1", *TINY, "--quiet"],
    )
    assert result.exit_code == 0, result.output
    written = json.loads((run / bench.BENCH_FILE).read_text())
    assert written["codec"] == "hyperprior-msssim/compressai"
    assert written["config"]["weights"] == str(tiny_weights)
    assert "inference" not in written["qualities"]["1"] and "encode" in written
    assert written["targets"]["pixel_over_compressed"]["passed"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "everything"], "Unknown bench section"),
        (["--codec", "jpeg"], "is not one"),
        (["--batch", "x"], "--batch takes"),
        (["--size", "32"], "--size 32 is too small"),
        (["--quality", "9"], "has no quality 9"),
    ],
)
def test_user_errors(args, message):
    result = CliRunner().invoke(cli, ["bench", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_run_dir_and_images_dir(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--run-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no readable run.json" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no images"):
        bench.bench_images(bench.BenchConfig(images_dir=str(empty)), 2)


def test_stats_and_interleaving():
    s = bench.stats([0.004, 0.001, 0.002, 0.003, 0.005])
    assert s["median_ms"] == 3.0 and s["p10_ms"] == pytest.approx(1.4) and s["n"] == 5
    assert s["samples_ms"] == [4.0, 1.0, 2.0, 3.0, 5.0]
    calls = []

    def contender(name):
        def run(i):
            calls.append((name, i))
            return {"total": 1.0}

        return run

    kept = bench.interleaved({"a": contender("a"), "b": contender("b")}, reps=3, warmup=1, items=2)
    assert calls == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 0), ("b", 0), ("b", 1), ("a", 1)]
    assert len(kept["a"]) == 3 and len(kept["b"]) == 3


def test_cli_module_does_not_import_torch():
    code = (
        "import sys; import jpegai_eval.bench.cli, jpegai_eval.bench.measure; "
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_shows_a_runs_bench_json(bench_run, tmp_path):
    from jpegai_eval.reports.html import bench_section

    _, result, out = bench_run
    assert bench_section(tmp_path) == ""  # no bench.json: no section
    (tmp_path / bench.BENCH_FILE).write_text(Path(out).read_text())
    html = bench_section(tmp_path)
    assert html.startswith('<section id="bench">') and 'id="bench-targets"' in html
    for name in bench.TARGETS:
        assert f"<th>{name}</th>" in html
    assert html.count("<caption>") == 1 + 6  # the targets and the six tables


def test_the_machine_line_names_the_rans_decoder_only_when_recorded_and_the_omp_policy(
    bench_run,
):
    from jpegai_eval.reports.bench_summary import machine_line

    _, result, _ = bench_run
    policy = result["machine"]["OMP_WAIT_POLICY"] or "unset"
    assert f"rANS decoder {rans.DECODER}, OMP_WAIT_POLICY {policy}, load" in machine_line(result)
    older = {
        **result,
        "machine": {k: v for k, v in result["machine"].items() if k != "rans_decoder"},
    }
    assert "rANS" not in machine_line(older)  # a bench.json from before it was recorded


def test_a_loader_that_changes_the_batches_fails_its_target(bench_run):
    """loader_speedup passes only when today's loader gave the old loader's batches."""
    import copy

    _, result, _ = bench_run
    assert result["training"]["loader_per_core"]["same_batches"] is True
    changed = copy.deepcopy(result)
    changed["training"]["loader_per_core"]["same_batches"] = False
    changed["training"]["loader_per_core"]["decode_once_over_old"] = 99.0
    judged = bench.targets(changed)["loader_speedup"]
    assert judged["value"] == 99.0 and judged["passed"] is False
    assert "different batches" in judged["what"]
    assert bench.targets(result)["loader_speedup"]["what"] == bench.TARGETS["loader_speedup"][2]
