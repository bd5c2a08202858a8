"""Conventional pixel-domain baselines through Pillow: JPEG, WebP, JPEG 2000."""

from __future__ import annotations

import numpy as np
import pytest

from jpegai_eval.codecs.pillow_codecs import JPEG, PILLOW_CODECS, WEBP, PillowCodec
from jpegai_eval.codecs.testing import synthetic_image
from jpegai_eval.framework.api.bitstream import unpack
from jpegai_eval.framework.errors import BitstreamError, UsageError, UserError
from jpegai_eval.framework.quality.metrics import psnr

AVAILABLE = [c for c in PILLOW_CODECS if not c.unavailable_reason]


def test_registered_through_the_plugin():
    from jpegai_eval.framework.api.plugins import get_plugins

    codecs = get_plugins().codecs
    for codec_id in ("jpeg", "webp", "jpeg2000"):
        assert codecs.backends(codec_id) == ["pillow"]
        codec = codecs.get(f"{codec_id}/pillow")
        assert not codec.has_compressed_domain
        assert codec.latent_spec(1) is None
        assert codec.qualities == tuple(range(1, 9))


@pytest.mark.parametrize("codec", AVAILABLE, ids=lambda c: c.id)
def test_ladder_rises_in_rate_and_fidelity(codec):
    image = synthetic_image(96, 112, seed=2)
    sizes, quality = [], []
    for q in (1, 4, 8):
        model = codec.load(q)
        data = model.encode(image)
        header, _ = unpack(data)
        assert (header.codec, header.backend, header.quality) == (codec.id, "pillow", q)
        decoded = model.decode(data)
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        sizes.append(len(data))
        quality.append(psnr(image, decoded))
    assert sizes[0] < sizes[1] < sizes[2]
    assert quality[0] < quality[1] < quality[2]


def test_no_compressed_domain_and_no_weights():
    model = JPEG.load(3)
    data = model.encode(synthetic_image(32, 32))
    with pytest.raises(UserError, match="no compressed domain"):
        model.latents(data)
    with pytest.raises(UsageError, match="has no weights"):
        JPEG.load(3, "/some/file.pt")
    with pytest.raises(UsageError, match="qualities are 1, 2, 3, 4, 5, 6, 7, 8"):
        WEBP.load(0)


def test_other_quality_and_garbage_payload_are_refused():
    data = JPEG.load(3).encode(synthetic_image(32, 48))
    with pytest.raises(BitstreamError, match="quality 3"):
        JPEG.load(5).decode(data)
    from jpegai_eval.framework.api.bitstream import Header, pack

    bogus = pack(Header("jpeg", "pillow", 3, 32, 48), b"not a jpeg")
    with pytest.raises(BitstreamError, match="cannot be decoded"):
        JPEG.load(3).decode(bogus)


def test_missing_pillow_feature_is_reported(monkeypatch):
    codec = PillowCodec("fake", "FAKE", tuple({} for _ in range(8)), "x", feature="nope")
    from PIL import features

    monkeypatch.setattr(features, "check", lambda name: False)
    assert "without nope support" in codec.unavailable_reason
    with pytest.raises(UserError, match="unavailable"):
        codec.load(1)


@pytest.mark.parametrize("codec", AVAILABLE, ids=lambda c: c.id)
def test_a_payload_larger_than_its_header_is_refused_before_decoding(codec, monkeypatch):
    """The header is capped; a payload claiming a larger image than its header is refused
    from the payload's own header, before Pillow decodes (or allocates) anything."""
    from PIL import Image

    from jpegai_eval.framework.api.bitstream import Header, pack

    model = codec.load(4)
    big = codec.load(4).encode(synthetic_image(96, 112, seed=3))
    header, payload = unpack(big)
    lie = pack(Header(codec.id, "pillow", 4, 48, 56, (), header.weights_id), payload)
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or None)
    with pytest.raises(BitstreamError, match="holds a 112x96 image but the header says 56x48"):
        model.decode(lie)
    assert decoded == []
