"""The .jai container: round trip, and refusal of truncated, corrupt or foreign files."""

from __future__ import annotations

import pytest

from jpegai_eval.framework.api.bitstream import (
    Header,
    bits_per_pixel,
    check_matches,
    pack,
    pack_strings,
    unpack,
    unpack_strings,
)
from jpegai_eval.framework.errors import BitstreamError, UserError

HEADER = Header("hyperprior-msssim", "compressai", 4, 100, 130, (12, 7, 9), b"\x01" * 8)
PAYLOAD = pack_strings([b"y" * 40, b"z" * 7])


def test_round_trip_keeps_every_field():
    data = pack(HEADER, PAYLOAD)
    header, payload = unpack(data)
    assert header == HEADER
    assert payload == PAYLOAD
    assert unpack_strings(payload) == [b"y" * 40, b"z" * 7]


def test_bpp_counts_the_whole_file():
    data = pack(HEADER, PAYLOAD)
    assert bits_per_pixel(data, 100, 130) == pytest.approx(8 * len(data) / 13000)
    assert len(data) > len(PAYLOAD)


@pytest.mark.parametrize("cut", [3, 10, 30, -1])
def test_truncated_file_is_refused(cut):
    data = pack(HEADER, PAYLOAD)
    with pytest.raises(BitstreamError, match="truncated|Not a jpegai"):
        unpack(data[:cut])


def test_every_single_bit_flip_is_refused():
    data = pack(HEADER, PAYLOAD)
    for i in range(len(data)):
        for bit in (0, 7):
            broken = bytearray(data)
            broken[i] ^= 1 << bit
            with pytest.raises(BitstreamError):
                unpack(bytes(broken))


def test_extra_bytes_and_foreign_files_are_refused():
    data = pack(HEADER, PAYLOAD)
    with pytest.raises(BitstreamError, match="extra bytes"):
        unpack(data + b"\0")
    with pytest.raises(BitstreamError, match="Not a jpegai-eval bitstream"):
        unpack(b"\x89PNG\r\n\x1a\n" + data)
    assert issubclass(BitstreamError, UserError)


def test_check_matches_names_codec_quality_and_weights():
    check_matches(HEADER, "hyperprior-msssim", "compressai", 4, b"\x01" * 8)
    with pytest.raises(BitstreamError, match="quality 4"):
        check_matches(HEADER, "hyperprior-msssim", "compressai", 5, b"\x01" * 8)
    with pytest.raises(BitstreamError, match="other weights"):
        check_matches(HEADER, "hyperprior-msssim", "compressai", 4, b"\x02" * 8)


def test_malformed_string_table_is_refused():
    with pytest.raises(BitstreamError, match="malformed"):
        unpack_strings(b"\x02\x00\x00\x00\x05ab")


def test_empty_file_says_so():
    from jpegai_eval.framework.api.bitstream import unpack
    from jpegai_eval.framework.errors import BitstreamError

    with pytest.raises(BitstreamError, match=r"empty or truncated \(0 bytes\)"):
        unpack(b"")


# -- memory bombs: sizes the payload cannot describe (issue 12, item 3) -----------------


def _sized(height, width, latent_shape=(12, 7, 9), payload=PAYLOAD):
    return pack(Header("c", "b", 1, height, width, latent_shape, b""), payload)


@pytest.mark.parametrize("size", [(20000, 20000), (100000, 100000), (2**32 - 1, 2**32 - 1)])
def test_a_header_above_the_pixel_cap_is_refused(size):
    with pytest.raises(BitstreamError, match="JPEGAI_EVAL_MAX_PIXELS") as err:
        unpack(_sized(*size))
    assert f"{size[1]}x{size[0]}" in err.value.message


@pytest.mark.parametrize("size", [(0, 0), (0, 100), (100, 0)])
def test_a_header_of_no_pixels_is_refused(size):
    with pytest.raises(BitstreamError, match="at least one pixel"):
        unpack(_sized(*size))


def test_the_pixel_cap_is_documented_and_overridable(monkeypatch):
    import jpegai_eval.framework.api.bitstream as bitstream

    assert bitstream.max_pixels() == bitstream.DEFAULT_MAX_PIXELS == 89_478_485
    assert "JPEGAI_EVAL_MAX_PIXELS" in bitstream.__doc__
    monkeypatch.setenv("JPEGAI_EVAL_MAX_PIXELS", "1000")
    with pytest.raises(BitstreamError, match="above the limit of 1,000 pixels"):
        unpack(_sized(40, 26))
    assert unpack(_sized(40, 25))[0].height == 40
    monkeypatch.setenv("JPEGAI_EVAL_MAX_PIXELS", str(20000 * 20000))
    assert unpack(_sized(20000, 20000))[0].width == 20000
    for bad in ("-1", "0", "lots"):
        monkeypatch.setenv("JPEGAI_EVAL_MAX_PIXELS", bad)
        with pytest.raises(UserError, match="is not a whole number > 0"):
            unpack(_sized(40, 25))
