"""JPEG AI's conventional anchors (JPEG 4:2:0 and 4:4:4, JPEG 2000, HEVC intra, AVIF,
JPEG XL): real encoders from PyPI wheels, their ladders, their rate parameter and limits."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from jpegai_eval.codecs.anchor_codecs import ANCHOR_CODECS, AVIF, HEVC, JPEGXL
from jpegai_eval.codecs.pillow_codecs import JPEG, JPEG2000
from jpegai_eval.framework.api.bitstream import unpack
from jpegai_eval.framework.errors import BitstreamError, ImageSizeError, UserError
from jpegai_eval.framework.quality.metrics import psnr
from jpegai_eval.testing import check_codec

RATE_CODECS = (JPEG, JPEG2000, *ANCHOR_CODECS)
IDS = [c.key for c in RATE_CODECS]


@pytest.fixture(scope="module")
def demo_images():
    """Three of the demo dataset's textures, at its default size (128 x 128)."""
    from jpegai_eval.tasks import demo
    from jpegai_eval.tasks.classes import MINC_CLASSES

    return [
        demo.texture(MINC_CLASSES[i], np.random.default_rng([0, i, 0]), demo.DEFAULT_SIZE)
        for i in (0, 9, 17)
    ]


def test_every_anchor_is_registered_with_its_versions():
    from jpegai_eval.cli.listing import describe_plugins

    listed = {(c["id"], c["backend"]): c for c in describe_plugins()["codecs"]}
    expected = {
        ("jpeg-444", "pillow"): "libjpeg",
        ("hevc", "pillow-heif"): "x265 HEVC encoder",
        ("avif", "pillow"): "aom [enc]",
        ("jpegxl", "pillow-jxl"): "pillow-jxl-plugin 1.",
        ("jpeg", "pillow"): "libjpeg",
        ("jpeg2000", "pillow"): "OpenJPEG 2.",
    }
    for key, library in expected.items():
        entry = listed[key]
        assert entry["available"], entry["unavailable_reason"]
        assert library in entry["description"]
        assert "Pillow 1" in entry["description"] and "rate parameter" in entry["description"]
    assert '"chroma": 444' in listed[("hevc", "pillow-heif")]["description"]


@pytest.mark.parametrize("codec", RATE_CODECS, ids=IDS)
@pytest.mark.parametrize("quality", [1, 8])
def test_keeps_the_codec_contract(codec, quality):
    report = check_codec(codec, quality, min_psnr=12 if quality == 1 else 27)
    assert report.bpp == 8 * report.bytes / (report.height * report.width)
    assert "truncated (last byte missing)" in report.refused


@pytest.mark.parametrize("codec", RATE_CODECS, ids=IDS)
def test_bpp_rises_with_quality_on_demo_images(codec, demo_images):
    rates, fidelity = [], []
    for q in codec.qualities:
        model = codec.load(q)
        files = [(model.encode(img), img) for img in demo_images]
        rates.append(np.mean([8 * len(f) / (img.shape[0] * img.shape[1]) for f, img in files]))
        fidelity.append(np.mean([psnr(img, model.decode(f)) for f, img in files]))
    assert all(a < b for a, b in zip(rates, rates[1:], strict=False)), rates
    assert fidelity[0] < fidelity[-1], fidelity


@pytest.mark.parametrize("codec", RATE_CODECS, ids=IDS)
def test_the_rate_parameter_moves_the_rate_its_way(codec, demo_images):
    p = codec.parameter
    image = demo_images[1]
    low, high = p.low + 0.2 * (p.high - p.low), p.low + 0.7 * (p.high - p.low)
    sizes = [len(codec.load_parameter(v).encode(image)) for v in (low, high)]
    assert (sizes[0] < sizes[1]) == p.increases_rate, sizes


@pytest.mark.parametrize("codec", RATE_CODECS, ids=IDS)
def test_a_rate_controlled_file_round_trips_and_says_so(codec, demo_images):
    image = demo_images[0]
    p = codec.parameter
    value = p.low + (0.6 if p.increases_rate else 0.02) * (p.high - p.low)  # a fair quality
    model = codec.load_parameter(value)
    data = model.encode(image)
    header, payload = unpack(data)
    assert (header.codec, header.backend, header.quality) == (codec.id, codec.backend, 0)
    decoded = codec.load_parameter(None).decode(data)  # any model of the codec decodes it
    assert decoded.shape == image.shape and psnr(image, decoded) > 20
    assert np.array_equal(decoded, model.decode(data))
    # another value's settings are other "weights": refused, as another quality is
    other = codec.load_parameter(codec.parameter.low)
    with pytest.raises(BitstreamError, match="other weights"):
        other.decode(data)
    with pytest.raises(BitstreamError, match="quality 0"):
        codec.load(4).decode(data)
    # a damaged payload inside a valid container is refused, never a crash
    from jpegai_eval.framework.api.bitstream import pack

    damaged = pack(header, payload[: len(payload) // 2])
    with pytest.raises(BitstreamError):
        codec.load_parameter(None).decode(damaged)
    with pytest.raises(UserError, match="only decodes"):
        codec.load_parameter(None).encode(image)


def test_settings_key_the_weights_id():
    """The weights id digests the exact save options: another ladder step or a
    4:4:4 JPEG is never answered from a 4:2:0 cache entry."""
    from jpegai_eval.codecs.anchor_codecs import ANCHOR_CODECS as anchors

    jpeg444 = next(c for c in anchors if c.id == "jpeg-444")
    ids = {JPEG.load(3).weights_id, JPEG.load(4).weights_id, jpeg444.load(3).weights_id}
    assert len(ids) == 3 and all(len(i) == 8 for i in ids)
    assert JPEG.load_parameter(30).weights_id == JPEG.load(4).weights_id  # same options
    assert json.loads(json.dumps(JPEG.options_at(30.4))) == {
        "optimize": True,
        "quality": 30,
        "subsampling": 2,
    }


@pytest.mark.parametrize("codec", [HEVC, AVIF, JPEGXL], ids=lambda c: c.key)
def test_images_beyond_the_format_limits_are_refused_before_encoding(codec, monkeypatch):
    assert codec.max_side is not None and codec.min_side == 1
    small = copy.copy(codec)
    small.max_side, small.min_side = 40, 8
    with pytest.raises(ImageSizeError, match=r"can hold \(40 pixels"):
        small.load(4).encode(np.zeros((24, 48, 3), np.uint8))
    with pytest.raises(ImageSizeError, match=r"too small: 16x4, the minimum .* is 8x8"):
        small.load(4).encode(np.zeros((4, 16, 3), np.uint8))
    # the real codec takes a 1 x 1 image
    one = np.full((1, 1, 3), 200, np.uint8)
    assert codec.load(4).decode(codec.load(4).encode(one)).shape == (1, 1, 3)


def test_a_missing_plugin_package_is_reported(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "pillow_heif" else real(name)
    )
    assert "pillow-heif" in HEVC.unavailable_reason
    with pytest.raises(UserError, match="unavailable"):
        HEVC.load(1)


@pytest.mark.parametrize("codec", ANCHOR_CODECS, ids=lambda c: c.key)
def test_codec_commands_round_trip_every_quality(codec, tmp_path):
    """`codec encode`, `codec info` and `codec decode` at each of the eight qualities."""
    from click.testing import CliRunner

    from jpegai_eval.cli import cli
    from jpegai_eval.framework.io.image_io import read_image, write_image

    source = tmp_path / "in.png"
    image = np.ascontiguousarray(np.random.default_rng(1).integers(0, 256, (24, 40, 3), np.uint8))
    write_image(source, image)
    runner = CliRunner()
    for q in codec.qualities:
        jai, png = tmp_path / f"q{q}.jai", tmp_path / f"q{q}.png"
        args = ["codec", "encode", "--codec", codec.key, "--quality", str(q), str(source), str(jai)]
        assert runner.invoke(cli, args).exit_code == 0
        info = runner.invoke(cli, ["codec", "info", str(jai)])
        assert info.exit_code == 0, info.output
        record = json.loads(info.output)
        assert (record["codec"], record["backend"], record["quality"]) == (
            codec.id,
            codec.backend,
            q,
        )
        assert record["description"] == codec.description
        decoded = runner.invoke(cli, ["codec", "decode", str(jai), str(png)])
        assert decoded.exit_code == 0, decoded.output
        assert np.array_equal(read_image(png), codec.load(q).decode(jai.read_bytes()))


def test_codecs_travel_to_encode_workers():
    """Codecs are pickled into worker processes: every anchor survives the trip."""
    import pickle

    for codec in RATE_CODECS:
        copy_ = pickle.loads(pickle.dumps(codec))
        assert copy_.ladder == codec.ladder and copy_.options_at(50) == codec.options_at(50)
