"""``jpegai-eval codec ...``: the encode -> info -> decode -> latents round trip, and a
clear error (exit code != 0, no traceback, no half-written output) for each bad input."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegai_eval.codecs.cli import codec_group
from jpegai_eval.codecs.testing import synthetic_image, write_tiny_checkpoint
from jpegai_eval.codecs.weights import demo_qualities


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """A --weights folder with tiny checkpoints for qualities 1 and 8."""
    folder = tmp_path_factory.mktemp("weights")
    write_tiny_checkpoint(folder / "hyperprior-msssim-q1.pt", quality=1, n=8, m=12, seed=1)
    write_tiny_checkpoint(folder / "hyperprior-msssim-q8.pt", quality=8, n=8, m=16, seed=8)
    return folder


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(synthetic_image(80, 100, seed=1)).save(path)
    return path


def invoke(*args, group=codec_group):
    return CliRunner().invoke(group, [str(a) for a in args])


def assert_clean_error(result, code=1, match=""):
    assert result.exit_code == code, result.output
    assert result.output.startswith("Error: ") or "\nError: " in result.output, result.output
    assert "Traceback" not in result.output
    assert match in result.output, result.output


def no_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".jpegai-eval-tmp-")] == []


def test_round_trip_encode_info_decode_latents(tmp_path, png, weights_dir):
    jai = tmp_path / "out.jai"
    result = invoke(
        "encode", "--codec", "hyperprior-msssim", "--quality", 8, "--weights", weights_dir, png, jai
    )
    assert result.exit_code == 0, result.output
    info_result = invoke("info", jai)
    assert info_result.exit_code == 0, info_result.output
    info = json.loads(info_result.output)
    assert info["codec"] == "hyperprior-msssim" and info["backend"] == "compressai"
    assert info["quality"] == 8
    assert info["size"] == {"height": 80, "width": 100}
    assert info["bytes"] == jai.stat().st_size
    assert info["bpp"] == pytest.approx(8 * jai.stat().st_size / (80 * 100), abs=1e-5)

    out_png = tmp_path / "dec.png"
    result = invoke("decode", "--weights", weights_dir, jai, out_png)
    assert result.exit_code == 0, result.output
    decoded = np.asarray(Image.open(out_png))
    assert decoded.shape == (80, 100, 3)

    npz = tmp_path / "lat.npz"
    result = invoke("latents", "--weights", weights_dir, jai, npz)
    assert result.exit_code == 0, result.output
    with np.load(npz) as latents:
        assert set(latents.files) == {"y_hat", "sigma_hat"}
        assert latents["y_hat"].shape == (16, math.ceil(80 / 16), math.ceil(100 / 16))
        assert latents["sigma_hat"].shape == latents["y_hat"].shape
    assert no_leftovers(tmp_path)


def test_through_the_main_cli(tmp_path, png):
    from jpegai_eval.cli import cli

    jai = tmp_path / "j.jai"
    result = invoke("codec", "encode", "--codec", "jpeg", "--quality", 2, png, jai, group=cli)
    assert result.exit_code == 0, result.output
    result = invoke("codec", "decode", jai, tmp_path / "d.png", group=cli)
    assert result.exit_code == 0, result.output
    result = invoke("codec", "latents", jai, tmp_path / "l.npz", group=cli)
    assert_clean_error(result, 1, "no compressed domain")
    assert not (tmp_path / "l.npz").exists()
    jai.write_bytes(jai.read_bytes()[:-4])
    result = invoke("codec", "decode", jai, tmp_path / "e.png", group=cli)
    assert_clean_error(result, 1, "truncated")


@pytest.mark.parametrize("flip", ["header", "payload", "truncate"])
def test_corrupt_bitstream_is_refused_without_output(tmp_path, png, weights_dir, flip):
    jai = tmp_path / "x.jai"
    invoke(
        "encode", "--codec", "hyperprior-msssim", "--quality", 1, "--weights", weights_dir, png, jai
    )
    data = bytearray(jai.read_bytes())
    if flip == "header":
        data[12] ^= 0x01
    elif flip == "payload":
        data[-10] ^= 0x80
    else:
        data = data[: len(data) // 2]
    jai.write_bytes(bytes(data))
    for command, out in (("decode", "d.png"), ("latents", "l.npz")):
        result = invoke(command, "--weights", weights_dir, jai, tmp_path / out)
        assert result.exit_code != 0
        assert "Traceback" not in result.output and "Error: " in result.output
        assert not (tmp_path / out).exists()
    assert invoke("info", jai).exit_code != 0
    assert no_leftovers(tmp_path)


def test_other_weights_are_refused(tmp_path, png, weights_dir):
    jai = tmp_path / "x.jai"
    invoke(
        "encode", "--codec", "hyperprior-msssim", "--quality", 1, "--weights", weights_dir, png, jai
    )
    other = tmp_path / "other.pt"
    write_tiny_checkpoint(other, quality=1, n=8, m=12, seed=99)
    result = invoke("decode", "--weights", other, jai, tmp_path / "d.png")
    assert_clean_error(result, 1, "other weights")
    q8 = weights_dir / "hyperprior-msssim-q8.pt"
    result = invoke("decode", "--weights", q8, jai, tmp_path / "d.png")
    assert_clean_error(result, 1, "holds quality 8")
    assert not (tmp_path / "d.png").exists()


def test_bad_inputs_are_clear_errors(tmp_path, png, weights_dir):
    out = tmp_path / "o.jai"
    text = tmp_path / "notes.png"
    text.write_text("hello")
    assert_clean_error(
        invoke("encode", "--codec", "jpeg", "--quality", 3, text, out), 1, "Cannot read"
    )
    assert_clean_error(
        invoke("encode", "--codec", "jpeg", "--quality", 3, tmp_path / "none.png", out),
        1,
        "not found",
    )
    assert_clean_error(
        invoke("encode", "--codec", "jpeg", "--quality", 9, png, out), 2, "qualities are 1, 2"
    )
    assert_clean_error(
        invoke("encode", "--codec", "nope", "--quality", 1, png, out),
        2,
        "Unknown codec: 'nope'",
    )
    small = tmp_path / "small.png"
    Image.fromarray(synthetic_image(40, 50)).save(small)
    assert_clean_error(
        invoke(
            "encode",
            "--codec",
            "hyperprior-msssim",
            "--quality",
            1,
            "--weights",
            weights_dir,
            small,
            out,
        ),
        1,
        "too small: ",
    )
    assert_clean_error(
        invoke(
            "encode",
            "--codec",
            "hyperprior-msssim",
            "--quality",
            1,
            "--weights",
            tmp_path / "missing",
            png,
            out,
        ),
        1,
        "neither 'demo'",
    )
    assert_clean_error(
        invoke(
            "encode",
            "--codec",
            "hyperprior-msssim",
            "--quality",
            1,
            "--weights",
            weights_dir,
            png,
            tmp_path / "no" / "dir" / "o.jai",
        ),
        1,
        "does not exist",
    )
    assert_clean_error(invoke("info", png), 1, "Not a jpegai-eval bitstream")
    jai = tmp_path / "j.jai"
    invoke("encode", "--codec", "jpeg", "--quality", 3, png, jai)
    assert_clean_error(invoke("decode", jai, tmp_path / "d.jpg"), 1, "lossless image suffix")
    assert not out.exists()
    assert no_leftovers(tmp_path)


@pytest.mark.parametrize(
    "mode,note",
    [("L", "grayscale converted"), ("RGBA", "alpha channel dropped"), ("I;16", "16-bit")],
)
def test_grayscale_rgba_and_16_bit_are_converted_with_a_note(tmp_path, mode, note):
    rgb = synthetic_image(64, 64, seed=2)
    if mode == "L":
        img = Image.fromarray(rgb).convert("L")
    elif mode == "RGBA":
        img = Image.fromarray(np.dstack([rgb, np.full((64, 64), 128, np.uint8)]), "RGBA")
    else:
        img = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    path = tmp_path / "in.png"
    img.save(path)
    result = invoke("encode", "--codec", "jpeg", "--quality", 8, path, tmp_path / "o.jai")
    assert result.exit_code == 0, result.output
    assert note in result.output
    from jpegai_eval.framework.io.image_io import read_image

    array = read_image(path)
    assert array.shape == (64, 64, 3) and array.dtype == np.uint8
    if mode == "I;16":
        assert np.array_equal(array[..., 0], rgb[..., 0])


@pytest.mark.skipif(
    not {1, 8} <= set(demo_qualities("hyperprior-msssim")), reason="no demo weights"
)
def test_acceptance_demo_weights_q1_vs_q8(tmp_path):
    """The issue's acceptance check: with --weights demo, bpp and PSNR rise from q1 to q8,
    latents are M x ceil(H/16) x ceil(W/16), and a corrupted file is refused."""
    from jpegai_eval.codecs.weights import demo_config
    from jpegai_eval.framework.quality.metrics import psnr

    original = synthetic_image(100, 150, seed=5)
    png = tmp_path / "in.png"
    Image.fromarray(original).save(png)
    bpp, quality = {}, {}
    for q in (1, 8):
        jai = tmp_path / f"q{q}.jai"
        assert (
            invoke(
                "encode",
                "--codec",
                "hyperprior-msssim",
                "--quality",
                q,
                "--weights",
                "demo",
                png,
                jai,
            ).exit_code
            == 0
        )
        info = json.loads(invoke("info", jai).output)
        bpp[q] = info["bpp"]
        assert invoke("decode", jai, tmp_path / f"q{q}.png").exit_code == 0
        quality[q] = psnr(original, np.asarray(Image.open(tmp_path / f"q{q}.png")))
        assert invoke("latents", jai, tmp_path / f"q{q}.npz").exit_code == 0
        _, m = demo_config("hyperprior-msssim", q)
        with np.load(tmp_path / f"q{q}.npz") as lat:
            assert lat["y_hat"].shape == (m, 7, 10)
    assert bpp[1] < bpp[8]
    assert quality[1] < quality[8]
    data = bytearray((tmp_path / "q8.jai").read_bytes())
    data[len(data) // 2] ^= 0x04
    (tmp_path / "bad.jai").write_bytes(bytes(data))
    result = invoke("decode", tmp_path / "bad.jai", tmp_path / "bad.png")
    assert result.exit_code != 0 and not (tmp_path / "bad.png").exists()
    assert os.listdir(tmp_path).count("bad.png") == 0


@pytest.mark.parametrize("size", [(0, 0), (20000, 20000)])
def test_info_decode_latents_refuse_bomb_headers(tmp_path, size):
    """A header of 0x0 (a ZeroDivisionError in `codec info`) or of 20000x20000 with a valid
    CRC (600 MB of latents, a decoder segfault) is one clean error, with no output."""
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
    from jpegai_eval.framework.api.bitstream import Header, pack, unpack

    model = CompressAIHyperprior("ms-ssim").load(1)
    real, payload = unpack(model.encode(synthetic_image(64, 64, seed=1)))
    h, w = size
    header = Header(real.codec, real.backend, 1, h, w, model.latent_shape(h, w), real.weights_id)
    bomb = tmp_path / "bomb.jai"
    bomb.write_bytes(pack(header, payload))
    match = "at least one pixel" if h == 0 else "JPEGAI_EVAL_MAX_PIXELS"
    assert_clean_error(invoke("info", bomb), 1, match)
    out = tmp_path / "out"
    for command, suffix in (("decode", ".png"), ("latents", ".npz")):
        target = out.with_suffix(suffix)
        assert_clean_error(invoke(command, bomb, target), 1, match)
        assert not target.exists()


def test_help_texts_are_not_one_codecs():
    """--help names no single codec's stride or family (and imports no torch)."""
    from jpegai_eval.cli import cli

    latents = invoke("latents", "--help")
    assert latents.exit_code == 0
    assert "ceil(H/16)" not in latents.output and "ceil(H/stride)" in latents.output
    for command in ("encode", "decode", "latents"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Hyperprior weights" not in result.output
        assert "The codec's weights" in result.output
    run = CliRunner().invoke(cli, ["run", "--help"])
    assert run.exit_code == 0
    assert "codec ids" in run.output and "id/backend" in run.output
