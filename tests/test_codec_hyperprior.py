"""The CompressAI hyperprior codec on tiny random models: real bitstreams, decode equal
to CompressAI's own decompress, latents from the bitstream only (g_s never runs)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from jpegai_eval.codecs.compressai_hyperprior import (
    LAMBDAS,
    ZOO_CONFIGS,
    CompressAIHyperprior,
    to_uint8,
)
from jpegai_eval.codecs.testing import synthetic_image, tiny_network
from jpegai_eval.framework.api.bitstream import unpack, unpack_strings
from jpegai_eval.framework.errors import BitstreamError, UsageError, UserError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def codec():
    return CompressAIHyperprior("ms-ssim")


@pytest.fixture(scope="module")
def model(codec):
    return codec.from_network(3, tiny_network(8, 12, seed=0))


def test_codec_description(codec):
    assert codec.id == "hyperprior-msssim"
    assert codec.backend == "compressai"
    assert codec.qualities == tuple(range(1, 9))
    assert codec.has_compressed_domain
    assert CompressAIHyperprior("mse").id == "hyperprior-mse"
    assert ZOO_CONFIGS[1] == (128, 192) and ZOO_CONFIGS[8] == (192, 320)
    assert codec.lmbda(1) == LAMBDAS["ms-ssim"][0] == 2.40
    spec = codec.latent_spec(8, "pretrained")
    assert (spec.channels, spec.stride, spec.sigma_channels) == (320, 16, 320)
    with pytest.raises(UsageError, match="qualities are 1, 2"):
        codec.check_quality(9)


@pytest.mark.parametrize("size", [(64, 64), (100, 130), (65, 127)])
def test_round_trip_any_size(model, size):
    h, w = size
    image = synthetic_image(h, w, seed=1)
    data = model.encode(image)
    header, payload = unpack(data)
    assert (header.height, header.width, header.quality) == (h, w, 3)
    assert header.latent_shape == (12, math.ceil(h / 16), math.ceil(w / 16))
    decoded = model.decode(data)
    assert decoded.shape == (h, w, 3) and decoded.dtype == np.uint8
    latents = model.latents(data)
    assert latents["y_hat"].shape == (12, math.ceil(h / 16), math.ceil(w / 16))
    assert latents["sigma_hat"].shape == latents["y_hat"].shape
    assert latents["y_hat"].dtype == np.float32


def test_decode_equals_compressai_decompress(model):
    image = synthetic_image(100, 130, seed=2)
    data = model.encode(image)
    header, payload = unpack(data)
    y_string, z_string = unpack_strings(payload)
    # The strings are exactly CompressAI's compress() output for the padded image.
    with torch.inference_mode():
        ref = model.net.compress(model.to_input(image))
    assert ref["strings"] == [[y_string], [z_string]]
    with torch.inference_mode():
        x_hat = model.net.decompress([[y_string], [z_string]], ref["shape"])["x_hat"]
    expected = to_uint8(x_hat[0, :, :100, :130])
    assert np.array_equal(model.decode(data), expected)


def test_latents_match_the_model_quantized_latent_and_h_s(model):
    image = synthetic_image(96, 80, seed=3)
    data = model.encode(image)
    latents = model.latents(data)
    net = model.net
    with torch.inference_mode():
        x = model.to_input(image)
        y = net.g_a(x)
        z = net.h_a(torch.abs(y))
        medians = net.entropy_bottleneck._get_medians()
        z_hat = net.entropy_bottleneck.quantize(z, "dequantize", medians)
        scales_hat = net.h_s(z_hat)
    h, w = 6, 5
    assert np.array_equal(latents["y_hat"], torch.round(y)[0, :, :h, :w].numpy())
    np.testing.assert_allclose(
        latents["sigma_hat"], scales_hat[0, :, :h, :w].numpy(), rtol=1e-5, atol=1e-6
    )
    assert np.any(latents["y_hat"] != 0)


class _Forbidden(torch.nn.Module):
    def forward(self, x):
        raise AssertionError("g_s must not run on the latents path")


def test_latents_never_run_g_s(codec):
    model = codec.from_network(3, tiny_network(8, 12, seed=0))
    image = synthetic_image(64, 64, seed=4)
    data = model.encode(image)
    expected = model.latents(data)
    model.net.g_s = _Forbidden()
    got = model.latents(data)
    assert np.array_equal(got["y_hat"], expected["y_hat"])
    with pytest.raises(AssertionError, match="must not run"):
        model.decode(data)  # proves the replacement is live


def test_encode_is_deterministic_and_rate_is_whole_file(model):
    image = synthetic_image(64, 96, seed=5)
    a, b = model.encode(image), model.encode(image)
    assert a == b
    header, payload = unpack(a)
    assert len(a) > len(payload)  # the header counts towards the rate


def test_small_image_is_refused(model):
    with pytest.raises(UserError, match="too small: 100x40, the minimum .*64x64"):
        model.encode(synthetic_image(40, 100))


def test_non_rgb_array_is_refused(model):
    with pytest.raises(UserError, match=r"\(H, W, 3\) uint8"):
        model.encode(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(UserError, match="float32"):
        model.encode(np.zeros((64, 64, 3), dtype=np.float32))


def test_other_weights_or_quality_are_refused(codec, model):
    data = model.encode(synthetic_image(64, 64, seed=6))
    other = codec.from_network(3, tiny_network(8, 12, seed=1))
    with pytest.raises(BitstreamError, match="other weights"):
        other.decode(data)
    with pytest.raises(BitstreamError, match="other weights"):
        other.latents(data)
    other_quality = codec.from_network(4, tiny_network(8, 12, seed=0))
    with pytest.raises(BitstreamError, match="quality 3"):
        other_quality.decode(data)


def test_corrupt_file_is_refused_before_decoding(model):
    data = bytearray(model.encode(synthetic_image(64, 64, seed=7)))
    data[-3] ^= 0x10
    with pytest.raises(BitstreamError, match="checksum"):
        model.decode(bytes(data))
    with pytest.raises(BitstreamError, match="truncated"):
        model.latents(bytes(data[:-5]))


@pytest.mark.slow
def test_bitstream_is_identical_across_processes(tmp_path, model):
    """Another process with the same weights writes the same bytes and decodes ours."""
    from jpegai_eval.codecs.weights import save_checkpoint

    ckpt = tmp_path / "w.pt"
    save_checkpoint(ckpt, model.net, {"codec": "hyperprior-msssim", "quality": 3}, half=True)
    image = synthetic_image(80, 70, seed=8)
    np.save(tmp_path / "img.npy", image)
    codec = CompressAIHyperprior("ms-ssim")
    here = codec.load(3, str(ckpt))
    data = here.encode(image)
    (tmp_path / "a.jai").write_bytes(data)
    script = (
        "import numpy as np, sys, torch; torch.set_num_threads(2)\n"
        "from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior\n"
        f"m = CompressAIHyperprior('ms-ssim').load(3, {str(ckpt)!r})\n"
        f"d = m.encode(np.load({str(tmp_path / 'img.npy')!r}))\n"
        f"open({str(tmp_path / 'b.jai')!r}, 'wb').write(d)\n"
        f"x = m.decode(open({str(tmp_path / 'a.jai')!r}, 'rb').read())\n"
        f"np.save({str(tmp_path / 'dec.npy')!r}, x)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert (tmp_path / "b.jai").read_bytes() == data
    assert np.array_equal(np.load(tmp_path / "dec.npy"), here.decode(data))


def test_strings_too_short_for_the_header_size_are_refused_before_decoding():
    """A real 64x64 file whose header claims 9000x9000 (below the pixel cap, latent shape
    made to match): its strings cannot code that many symbols, so it is refused at once
    instead of decoding 81 million pixels."""
    import time

    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
    from jpegai_eval.framework.api.bitstream import Header, pack, unpack
    from jpegai_eval.framework.errors import BitstreamError

    model = CompressAIHyperprior("ms-ssim").load(1)
    real, payload = unpack(model.encode(synthetic_image(64, 64, seed=1)))
    header = Header(
        real.codec, real.backend, 1, 9000, 9000, model.latent_shape(9000, 9000), real.weights_id
    )
    bomb = pack(header, payload)
    t0 = time.perf_counter()
    for step in (model.decode, model.latents):
        with pytest.raises(BitstreamError, match="too short to code"):
            step(bomb)
    assert time.perf_counter() - t0 < 5


def test_the_string_length_check_reads_the_current_cdf_tables():
    """The bits-per-symbol bound behind the too-short check is computed once per CDF
    table, and again when ``update()`` replaces the tables (a file checked against stale
    tables could be refused, or a crafted one let through)."""
    from jpegai_eval.codecs.compressai_hyperprior import min_string_bytes, min_symbol_bits

    model = CompressAIHyperprior("ms-ssim").load(1)
    data = model.encode(synthetic_image(64, 64, seed=2))
    header, payload = model.open(data)
    model.strings(payload, header)
    gc = model.net.gaussian_conditional
    first = model._per_table("y", gc, min_symbol_bits)
    assert first == min_symbol_bits(gc) > 0
    assert model._table_derived["y"][0] is gc._quantized_cdf
    # Tables where one symbol takes almost all the mass: its bound drops near zero.
    peaked = gc._quantized_cdf.clone()
    peaked[:, 1:] = 2**16 - 1
    gc._quantized_cdf = peaked
    assert model._per_table("y", gc, min_symbol_bits) == min_symbol_bits(gc) < first
    assert min_string_bytes(gc, 10_000) == min_string_bytes(gc, 10_000, min_symbol_bits(gc))
