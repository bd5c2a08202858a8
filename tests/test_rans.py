"""The rANS decoder on arrays (issue 16): the symbols CompressAI's own decoder gives, for
every stream CompressAI's encoder writes, and a clear error -- never a crash or a read
past the end -- for a stream it did not write."""

from __future__ import annotations

import shutil
import sysconfig

import numpy as np
import pytest
import torch
from compressai._CXX import pmf_to_quantized_cdf
from compressai.ans import RansDecoder, RansEncoder
from compressai.entropy_models.entropy_models import _EntropyCoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jpegai_eval.codecs import rans
from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior, to_uint8
from jpegai_eval.codecs.testing import synthetic_image, tiny_network
from jpegai_eval.framework.api.bitstream import pack, pack_strings, unpack, unpack_strings
from jpegai_eval.framework.errors import BitstreamError

torch.set_num_threads(1)

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _tables(lengths: list[int], offsets: list[int], seed: int) -> rans.Tables:
    """Quantized CDF tables of random PMFs, as CompressAI builds them (pmf_to_quantized_cdf
    on the PMF plus a tail mass), zero-padded to one width."""
    rng = np.random.default_rng(seed)
    width = max(lengths) + 2
    cdfs = np.zeros((len(lengths), width), dtype=np.int32)
    for t, n in enumerate(lengths):
        pmf = rng.dirichlet(np.full(n, 0.3))
        cdf = pmf_to_quantized_cdf([*(pmf * 0.999).tolist(), 0.001], 16)
        cdfs[t, : len(cdf)] = cdf
    return rans.Tables(
        cdfs, np.array([n + 2 for n in lengths], np.int32), np.array(offsets, np.int32)
    )


@st.composite
def streams(draw):
    """Tables, indexes and symbols -- some outside their table's range (bypass coded,
    up to 2^24 away), most inside -- and CompressAI's string for them. (CompressAI's
    encoder writes into a buffer of one 32-bit word per symbol, unchecked: at least 64
    symbols, at most a quarter escaped, keep it inside.)"""
    n_tables = draw(st.integers(1, 6))
    lengths = draw(st.lists(st.integers(1, 40), min_size=n_tables, max_size=n_tables))
    offsets = draw(st.lists(st.integers(-30, 5), min_size=n_tables, max_size=n_tables))
    tables = _tables(lengths, offsets, draw(st.integers(0, 2**16)))
    count = draw(st.integers(64, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    indexes = rng.integers(0, n_tables, count).astype(np.int32)
    low, high = tables.offsets[indexes], tables.offsets[indexes] + tables.lengths[indexes] - 2
    symbols = rng.integers(low, high + 1)  # high itself is escaped (raw value 0)
    escape = rng.random(count) < draw(st.sampled_from([0.0, 0.05, 0.25]))
    far = rng.integers(1, 2 ** rng.integers(1, 25, count)) * rng.choice([-1, 1], count)
    symbols = np.where(escape, np.where(far < 0, low + far, high + far), symbols)
    string = RansEncoder().encode_with_indexes(
        symbols.astype(np.int32).tolist(), indexes.tolist(), *tables.lists
    )
    return string, indexes, tables, symbols.astype(np.int32)


def test_the_compiled_decoder_is_built_where_a_c_compiler_is():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the package decodes with CompressAI's decoder")
    assert rans._compiled is not None, "setup.py builds jpegai_eval.codecs._rans"
    assert rans.DECODER.startswith("compiled")


@PROPERTY
@given(streams())
def test_decodes_what_compressais_encoder_wrote_as_compressais_decoder_does(stream):
    string, indexes, tables, symbols = stream
    got = rans.decode(string, indexes, tables, _EntropyCoder("ans"))
    assert got.dtype == np.int32 and got.shape == indexes.shape
    theirs = RansDecoder().decode_with_indexes(string, indexes.tolist(), *tables.lists)
    assert got.tolist() == theirs == symbols.tolist()


@PROPERTY
@given(streams(), st.data())
def test_a_cut_or_lengthened_string_is_an_error_not_a_read_past_the_end(stream, data):
    string, indexes, tables, _ = stream
    cut = data.draw(st.integers(0, len(string) - 1))
    with pytest.raises(ValueError, match="not a well-formed rANS stream"):
        rans.decode(string[:cut], indexes, tables, _EntropyCoder("ans"))
    extra = data.draw(st.binary(min_size=1, max_size=12))
    with pytest.raises(ValueError, match="not a well-formed rANS stream"):
        rans.decode(string + extra, indexes, tables, _EntropyCoder("ans"))


@PROPERTY
@given(streams(), st.data())
def test_a_damaged_string_is_an_error_or_in_range_values(stream, data):
    """Flipped bits (a CRC would catch them first in a .jai file): the decoder stays in
    its buffers, and when it does not notice, its values are still table symbols or
    escaped int32s."""
    string, indexes, tables, _ = stream
    damaged = bytearray(string)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] ^= data.draw(st.integers(1, 255))
    try:
        got = rans.decode(bytes(damaged), indexes, tables, _EntropyCoder("ans"))
    except ValueError as e:
        assert "not a well-formed rANS stream" in str(e)
    else:
        assert got.shape == indexes.shape


def test_the_decoder_checks_its_arguments():
    tables = _tables([3, 5], [0, -2], seed=0)
    indexes = np.array([0, 1, 1] * 30, np.int32)
    symbols = [1, -2, 2] * 30
    string = RansEncoder().encode_with_indexes(symbols, indexes.tolist(), *tables.lists)
    compiled = rans._compiled
    if compiled is None:
        pytest.skip("built without the compiled decoder")
    out = np.empty(90, np.int32)
    compiled.decode(string, indexes, tables.cdfs, tables.lengths, tables.offsets, out)
    assert out.tolist() == symbols
    with pytest.raises(ValueError, match="CDF index is outside"):
        compiled.decode(string, indexes + 1, tables.cdfs, tables.lengths, tables.offsets, out)
    with pytest.raises(ValueError, match="as many elements"):
        compiled.decode(string, indexes, tables.cdfs, tables.lengths, tables.offsets, out[:89])
    with pytest.raises(TypeError, match="int32"):
        compiled.decode(string, indexes.astype(np.int64), tables.cdfs, tables.lengths,
                        tables.offsets, out)  # fmt: skip
    bad = tables.cdfs.copy()
    bad[1, 2] = bad[1, 1]
    with pytest.raises(ValueError, match="not strictly increasing"):
        compiled.decode(string, indexes, bad, tables.lengths, tables.offsets, out)
    with pytest.raises(ValueError, match="whole number of 32-bit words"):
        compiled.decode(string + b"\0", indexes, tables.cdfs, tables.lengths, tables.offsets, out)


@pytest.fixture(scope="module")
def model():
    return CompressAIHyperprior("ms-ssim").from_network(2, tiny_network(8, 12, seed=1))


def test_the_codec_decodes_the_same_with_either_decoder(model, monkeypatch):
    files = [model.encode(synthetic_image(96, 80, seed=s)) for s in (1, 2)]
    compiled = model.decode_batch(files, image=True, latents=True)
    y = np.stack([lat["y_hat"] for lat in compiled.latents])
    assert np.abs(y).max() > 1, "the test needs non-trivial symbols"
    monkeypatch.setattr(rans, "_compiled", None)
    lists = model.decode_batch(files, image=True, latents=True)
    for a, b in zip(compiled.latents, lists.latents, strict=True):
        assert np.array_equal(a["y_hat"], b["y_hat"])
        assert np.array_equal(a["sigma_hat"], b["sigma_hat"])
    assert all(np.array_equal(a, b) for a, b in zip(compiled.images, lists.images, strict=True))
    # And CompressAI's own decompress() of the same strings.
    header, payload = unpack(files[0])
    y, z = model.strings(payload, header)
    with torch.inference_mode():
        ref = model.net.decompress([[y], [z]], model.z_shape(header.height, header.width))
    x_hat = ref["x_hat"][0, :, : header.height, : header.width]
    assert np.array_equal(compiled.images[0], to_uint8(x_hat))


def test_a_damaged_y_string_is_a_bitstream_error_naming_the_fix(model):
    data = model.encode(synthetic_image(64, 64, seed=3))
    header, payload = unpack(data)
    y, z = unpack_strings(payload)
    message = "y string .* not a well-formed rANS stream.*re-encode"
    with pytest.raises(BitstreamError, match=message):
        model.decode(pack(header, pack_strings([y + b"\0\0\0\0", z])))
