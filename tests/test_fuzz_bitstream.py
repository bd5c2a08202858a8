"""Fuzzing the ``.jai`` parser and the codecs' payload decoders (issue 12).

Random files, and random headers with a valid CRC around random payloads, must end in
the container's :class:`BitstreamError` (or another :class:`UserError`) or in a valid
decode -- never another exception, a crash, or an allocation beyond the pixel cap
(set low here, so a header that slipped past it would show as a large decode). Bounded:
a fixed number of examples per test, no example database, the whole module in seconds.
"""

from __future__ import annotations

import resource

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jpegai_eval.framework.api.bitstream import Header, pack, pack_strings, unpack, unpack_strings
from jpegai_eval.framework.errors import BitstreamError, UserError

CAP = 96 * 96  # pixels; JPEGAI_EVAL_MAX_PIXELS for every test here
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def low_cap(monkeypatch):
    monkeypatch.setenv("JPEGAI_EVAL_MAX_PIXELS", str(CAP))


@pytest.fixture(scope="module")
def hyperprior():
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior

    return CompressAIHyperprior("ms-ssim").load(1)


@pytest.fixture(scope="module")
def jpeg():
    from jpegai_eval.codecs.pillow_codecs import JPEG

    return JPEG.load(4)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check_outcome(step, data, header_ok=None):
    """Run ``step(data)``: a clean error, or a decode no larger than the cap."""
    try:
        out = step(data)
    except UserError as exc:  # BitstreamError included
        assert exc.message and "\n" not in exc.message.strip()
        return None
    arrays = out.values() if isinstance(out, dict) else [out]
    for array in arrays:
        assert isinstance(array, np.ndarray) and np.isfinite(array).all()
    if not isinstance(out, dict):
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert out.shape[0] * out.shape[1] <= CAP
    return out


header_fields = st.builds(
    Header,
    codec=st.sampled_from(["hyperprior-msssim", "jpeg", "x" * 255, ""]),
    backend=st.sampled_from(["compressai", "pillow", "tfc"]),
    quality=st.integers(0, 255),
    height=st.one_of(st.integers(0, 200), st.integers(0, 2**32 - 1)),
    width=st.one_of(st.integers(0, 200), st.integers(0, 2**32 - 1)),
    latent_shape=st.lists(st.integers(0, 0xFFFF), max_size=4).map(tuple),
    weights_id=st.binary(max_size=16),
)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_are_refused_or_parsed(data):
    try:
        header, payload = unpack(data)
    except BitstreamError:
        return
    assert 0 < header.height * header.width <= CAP


@FUZZ
@given(header=header_fields, payload=st.binary(max_size=200))
def test_random_headers_with_a_valid_crc(header, payload):
    data = pack(header, payload)
    try:
        parsed, body = unpack(data)
    except BitstreamError:
        assert not 0 < header.height * header.width <= CAP
        return
    assert parsed == header and body == payload
    assert 0 < header.height * header.width <= CAP
    try:
        unpack_strings(body)
    except BitstreamError:
        pass


@FUZZ
@given(
    height=st.integers(0, 120) | st.integers(0, 400),
    width=st.integers(0, 120) | st.integers(0, 400),
    matching_shape=st.booleans(),
    strings=st.lists(st.binary(min_size=4, max_size=120), min_size=2, max_size=2)
    | st.lists(st.binary(max_size=120), max_size=3),
    raw=st.none() | st.none() | st.binary(max_size=64),
)
def test_hyperprior_payloads(hyperprior, height, width, matching_shape, strings, raw):
    before = _peak_rss_mb()
    # A shape the model cannot have (its M is 96): the header lies.
    shape = hyperprior.latent_shape(height, width) if matching_shape else (48, 1, 1)
    header = Header(
        hyperprior.codec.id, "compressai", 1, height, width, shape, hyperprior.weights_id
    )
    payload = raw if raw is not None else pack_strings(strings)
    data = pack(header, payload)
    for step in (hyperprior.decode, hyperprior.latents):
        out = _check_outcome(step, data)
        if isinstance(out, np.ndarray):
            assert out.shape == (height, width, 3)
        elif out is not None:
            m, h, w = hyperprior.latent_shape(height, width)
            assert out["y_hat"].shape == out["sigma_hat"].shape == (m, h, w)
    assert _peak_rss_mb() - before < 300


@FUZZ
@given(
    size=st.just((48, 64)) | st.tuples(st.integers(0, 200), st.integers(0, 200)),
    cut=st.none() | st.integers(0, 2000),
    flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 255)), max_size=4),
)
def test_jpeg_payloads(jpeg, size, cut, flips):
    from jpegai_eval.codecs.testing import synthetic_image

    height, width = size
    _, real = unpack(jpeg.encode(synthetic_image(48, 64, seed=1)))
    payload = bytearray(real if cut is None else real[: max(cut, 2)])
    for at, bits in flips:
        if at < len(payload):
            payload[at] ^= bits
    header = Header("jpeg", "pillow", 4, height, width, (), jpeg.weights_id)
    data = pack(header, bytes(payload))
    out = _check_outcome(jpeg.decode, data)
    if out is not None:
        assert out.shape == (height, width, 3)
    with pytest.raises(UserError):
        jpeg.latents(data)


@FUZZ
@given(
    parts=st.lists(st.binary(max_size=40), max_size=4),
    dtypes=st.lists(st.sampled_from(["string", "int32", "float32"]), max_size=4),
    height=st.integers(1, 96),
    width=st.integers(1, 96),
)
def test_tfc_payload_unpacking(parts, dtypes, height, width):
    """The TFC receiver's inputs (unpacking and the shape check run without TensorFlow)."""
    from jpegai_eval.codecs.tfc_hyperprior import check_shapes, unpack_tensors

    header = Header("hyperprior-msssim", "tfc", 1, height, width, (), b"")
    try:
        values = unpack_tensors(pack_strings(parts), dtypes)
        check_shapes(values, header)
    except BitstreamError:
        return
    for value, dtype in zip(values, dtypes, strict=True):
        if dtype == "int32":
            assert (value >= 1).all() and (value <= max(height, width)).all()
