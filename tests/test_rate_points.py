"""Rate points (``run --target-bpp``): the bisection, the wrapped codecs with real
encoders, the plan, and a whole run whose cells are keyed by target rate."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from jpegai_eval.codecs.anchor_codecs import HEVC
from jpegai_eval.codecs.pillow_codecs import JPEG, JPEG2000
from jpegai_eval.framework.api.bitstream import unpack
from jpegai_eval.framework.errors import BitstreamError, UsageError
from jpegai_eval.framework.run.plan import RunConfig
from jpegai_eval.framework.run.rate_points import (
    MAX_STEPS,
    STOP_WITHIN,
    TargetRateCodec,
    parse_targets,
    search,
)


def _brute_best(size, values, pixels, target):
    return min(abs(math.log(8 * size(v) / pixels / target)) for v in values)


@pytest.mark.parametrize("increases_rate", [True, False])
@pytest.mark.parametrize("target", [3.0, 37.3, 61.0, 99.9])
def test_integer_bisection_finds_the_closest_rate(increases_rate, target):
    """A step-wise rising (or falling) size curve: the value taken is as close to the
    target as any of the 101 values, unless it stopped within STOP_WITHIN."""

    def size(v):  # bytes; 8 bits over 8 pixels: bpp == bytes
        v = v if increases_rate else 100 - v
        return int(2 + 0.01 * v**2)

    calls = []

    def encode(v):
        calls.append(v)
        return b"x" * size(v)

    value, data, steps = search(
        encode, 8, target, 0, 100, integer=True, increases_rate=increases_rate
    )
    assert value == int(value) and len(data) == size(value)
    assert steps == len(calls) == len(set(calls)) <= MAX_STEPS + 2  # nothing encoded twice
    got = abs(math.log(len(data) / target))
    best = _brute_best(size, range(101), 8, target)
    assert got <= max(best, math.log(1 + STOP_WITHIN)) + 1e-12


def test_float_bisection_and_an_unreachable_target():
    def size(v):  # 1000 pixels; bpp from 0.8 to 8
        return int(100 + 9 * v)

    value, data, steps = search(
        lambda v: b"x" * size(v), 1000, 2.0, 0.0, 100.0, integer=False, increases_rate=True
    )
    assert abs(8 * len(data) / 1000 / 2.0 - 1) <= STOP_WITHIN and steps <= MAX_STEPS
    # below the lowest reachable rate: the lowest end itself is tried and taken
    value, data, steps = search(
        lambda v: b"x" * size(v), 1000, 0.2, 0.0, 100.0, integer=False, increases_rate=True
    )
    assert value == 0.0 and len(data) == 100


@pytest.fixture(scope="module")
def demo_images():
    from jpegai_eval.tasks import demo
    from jpegai_eval.tasks.classes import MINC_CLASSES

    return [
        demo.texture(MINC_CLASSES[i], np.random.default_rng([0, i, 0]), demo.DEFAULT_SIZE)
        for i in (2, 11, 20)
    ]


@pytest.mark.parametrize("codec", [JPEG, HEVC, JPEG2000], ids=lambda c: c.key)
def test_conventional_codecs_land_on_target_with_real_encoders(codec, demo_images):
    wrapped = TargetRateCodec(codec, [0.25, 1.0])
    assert wrapped.key == codec.key and wrapped.qualities == (1, 2)
    assert wrapped.point_label(2) == "1bpp"
    models = [wrapped.load(1), wrapped.load(2)]
    assert models[0].weights_id != models[1].weights_id  # the cache is keyed by target
    for image in demo_images:
        pixels = image.shape[0] * image.shape[1]
        for model, target in zip(models, (0.25, 1.0), strict=True):
            data = model.encode(image)
            choice = model.last_choice
            assert choice.target_bpp == target and choice.bpp == 8 * len(data) / pixels
            assert choice.within_tolerance == (abs(choice.bpp / target - 1) <= 0.10)
            if codec.parameter.integer:  # no neighbour lands closer (unless it stopped early)
                for other in (choice.parameter - 1, choice.parameter + 1):
                    if codec.parameter.low <= other <= codec.parameter.high:
                        size = len(codec.load_parameter(other).encode(image))
                        closer = abs(math.log(8 * size / pixels / target))
                        taken = abs(math.log(choice.bpp / target))
                        assert taken <= max(closer, math.log(1 + STOP_WITHIN)) + 1e-9
            if codec is not HEVC:  # x265 moves in whole QP steps: 10-40 % here
                assert choice.within_tolerance, (codec.key, target, choice)
            header, _ = unpack(data)
            assert (header.codec, header.quality) == (codec.id, 0)  # the codec's own file
            # the searched value's own encode gives that very file
            assert codec.load_parameter(choice.parameter).encode(image) == data
            decoded = model.decode(data)
            assert np.array_equal(decoded, codec.load_parameter(None).decode(data))
    with pytest.raises(BitstreamError, match="not by jpeg"):
        TargetRateCodec(JPEG, [0.5]).load(1).decode(HEVC.load(3).encode(demo_images[0]))


@pytest.mark.slow
def test_a_learned_codec_takes_the_closest_of_its_qualities(demo_images):
    from jpegai_eval.framework.api.plugins import get_plugins

    codec = get_plugins().codecs.resolve("hyperprior-msssim", "compressai")
    image = demo_images[0]
    files = {q: codec.load(q, "demo").encode(image) for q in codec.qualities}
    pixels = image.shape[0] * image.shape[1]
    rates = {q: 8 * len(f) / pixels for q, f in files.items()}
    target = float(np.sqrt(rates[3] * rates[4]) * 1.01)  # between q3 and q4, nearer q4
    model = TargetRateCodec(codec, [target]).load(1, "demo")
    data = model.encode(image)
    best = min(rates, key=lambda q: abs(math.log(rates[q] / target)))
    assert model.last_choice.chosen_quality == best and data == files[best]
    assert model.last_choice.search_steps < len(codec.qualities)
    latents = model.latents(data)
    assert latents["y_hat"].shape == model.latent_spec.shape_for(*image.shape[:2])


def test_targets_are_parsed_and_checked():
    assert parse_targets("1.0, 0.25,0.25") == [0.25, 1.0]
    assert parse_targets(None) is None
    for bad in ("a,b", "", "0,1", "-1", "nan", "100"):
        with pytest.raises(UsageError, match="--target-bpp"):
            parse_targets(bad)


def test_the_plan_keys_cells_by_target_and_refuses_qualities_too():
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.run.plan import make_plan

    cfg = RunConfig(codecs=["jpeg", "hevc"], task="minc", target_bpp=[0.25, 1.0])
    plan = make_plan(cfg, get_plugins())
    assert [cp.qualities for cp in plan.codecs] == [[1, 2], [1, 2]]
    assert [cp.codec.target_for(2) for cp in plan.codecs] == [1.0, 1.0]
    from jpegai_eval.framework.run.runfolder import cell_name

    assert cell_name("anchor2", plan.codecs[1].codec, 1) == "anchor2-hevc-pillow-heif-0.25bpp"
    with pytest.raises(UsageError, match="not both"):
        make_plan(
            RunConfig(codecs=["jpeg"], task="minc", target_bpp=[1.0], qualities=[1]), get_plugins()
        )
    # targets are part of the fingerprint; a run without them keeps its old one
    plain = RunConfig(codecs=["jpeg"], task="minc")
    assert plain.fingerprint() == RunConfig(codecs=["jpeg"], task="minc").fingerprint()
    assert (
        plain.fingerprint()
        != RunConfig(codecs=["jpeg"], task="minc", target_bpp=[1.0]).fingerprint()
    )
    assert RunConfig(codecs=["jpeg"], task="minc", target_bpp=[1.0]).fingerprint() != (
        RunConfig(codecs=["jpeg"], task="minc", target_bpp=[0.5]).fingerprint()
    )


@pytest.mark.slow
def test_a_run_at_target_rates(tmp_path):
    """The whole study at two targets with two conventional codecs: Table 2's columns
    are the targets; results.csv and per_image.csv report what was achieved."""
    from click.testing import CliRunner

    from jpegai_eval.cli import cli
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path / "minc"
    write_demo_dataset(root, per_class=3, size=96, seed=5)
    out = tmp_path / "run"
    args = [
        "run", "--codec", "jpeg", "--codec", "avif", "--task", "minc", "--data-root",
        str(root), "--target-bpp", "0.5,1.5", "--preset", "smoke", "--anchors",
        "anchor1,anchor3", "--workers", "1", "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "avif/pillow at 1.5 bpp: mean" in result.output
    results = pd.read_csv(out / "results.csv")
    coded = results[results["anchor"] == "anchor1"]
    assert sorted(coded["target_bpp"]) == [0.5, 0.5, 1.5, 1.5]
    per_image = pd.read_csv(out / "per_image.csv")
    for (codec, target), group in per_image.groupby(["codec", "target_bpp"]):
        row = coded[(coded["codec"] == codec) & (coded["target_bpp"] == target)].iloc[0]
        assert row["bpp"] == pytest.approx(group["bpp"].mean(), rel=1e-5)
        share = (abs(group["bpp"] / target - 1) <= 0.10).mean()
        assert row["bpp_within_10pct"] == pytest.approx(share)
        assert share >= 0.9, (codec, target, group["bpp"].describe())
    assert (per_image.loc[per_image["codec"] == "jpeg", "parameter"] % 1 == 0).all()
    table = pd.read_csv(out / "table_top1.csv", index_col=0)
    assert list(table.columns) == [
        "jpeg/pillow 0.5 bpp",
        "jpeg/pillow 1.5 bpp",
        "avif/pillow 0.5 bpp",
        "avif/pillow 1.5 bpp",
    ]
    info = json.loads((out / "run.json").read_text())
    assert info["rate_points"]["target_bpp"] == [0.5, 1.5]
    assert "libavif" in info["codec_descriptions"]["avif/pillow"]
    # the cache entries are the codecs' own files, decoded by `codec decode`
    entry = next((out / "cache" / "avif__pillow").rglob("*.jai"))
    decoded = tmp_path / "d.png"
    result = CliRunner().invoke(cli, ["codec", "decode", str(entry), str(decoded)])
    assert result.exit_code == 0, result.output
    # a rerun reuses every encode: no search again
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "reused from the cache" in again.output


def test_fetch_lists_every_quality_a_learned_codec_may_take(tmp_path):
    """At target rates any quality may be chosen per image, so `fetch` needs them all."""
    from jpegai_eval.cli.fetch import needed_files

    options = {
        "codecs": ("hyperprior-msssim",),
        "task": "minc",
        "weights": "pretrained",
        "weights_dir": str(tmp_path),
        "target_bpp": "0.25,1.0",
        "data_root": str(tmp_path / "minc"),
    }
    names = {f.name for f in needed_files(options)}
    assert len([n for n in names if n.startswith("bmshj2018-hyperprior-ms-ssim")]) == 8
