"""The one staged decode (issue 11 item 2, issue 16.1): ``decode``, ``latents``, the
encode stage and the bench all run it, and the encode stage entropy-decodes each
bitstream once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jpegai_eval.codecs.compressai_hyperprior import ZOO_CONFIGS, CompressAIHyperprior
from jpegai_eval.codecs.pillow_codecs import JPEG
from jpegai_eval.codecs.testing import synthetic_image, tiny_network
from jpegai_eval.framework.errors import BitstreamError
from jpegai_eval.framework.quality import metrics

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return CompressAIHyperprior("ms-ssim").from_network(2, tiny_network(8, 12, seed=1))


def test_zoo_configs_equal_compressais_cfgs():
    """ZOO_CONFIGS is copied from CompressAI; it must not drift from the installed zoo."""
    from compressai.models import ScaleHyperprior
    from compressai.zoo import image as zoo

    assert zoo.model_architectures["bmshj2018-hyperprior"] is ScaleHyperprior
    assert dict(zoo.cfgs["bmshj2018-hyperprior"]) == ZOO_CONFIGS
    assert tuple(CompressAIHyperprior("ms-ssim").qualities) == tuple(
        sorted(zoo.cfgs["bmshj2018-hyperprior"])
    )


class _Counting(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def _counted(model):
    """Count h_s, g_s and the entropy decoding of z (by the model or by CompressAI's
    entropy bottleneck) and y of ``model`` (restored by the caller)."""
    net = model.net
    calls = {"z": 0, "y": 0}
    decode_z, decode_y = model.decode_z, model.decode_y
    eb_decompress = net.entropy_bottleneck.decompress

    def z(*args, **kwargs):
        calls["z"] += 1
        return decode_z(*args, **kwargs)

    def eb_z(*args, **kwargs):
        calls["z"] += 1
        return eb_decompress(*args, **kwargs)

    def y(*args, **kwargs):
        calls["y"] += 1
        return decode_y(*args, **kwargs)

    h_s, g_s = _Counting(net.h_s), _Counting(net.g_s)
    net.h_s, net.g_s = h_s, g_s
    model.decode_z, model.decode_y = z, y
    net.entropy_bottleneck.decompress = eb_z
    restore = (net, h_s.inner, g_s.inner)
    return calls, h_s, g_s, restore


def _restore(model, restore):
    net, h_s, g_s = restore
    net.h_s, net.g_s = h_s, g_s
    del model.decode_z, model.decode_y, net.entropy_bottleneck.decompress


def test_one_pass_gives_what_decode_and_latents_give(model):
    image = synthetic_image(80, 100, seed=3)
    data = model.encode(image)
    decoded, latents = model.decode(data), model.latents(data)
    calls, h_s, g_s, restore = _counted(model)
    try:
        out = model.decode_stages(data, image=True, latents=True)
    finally:
        _restore(model, restore)
    # One entropy decode of z and of y, one h_s, one g_s: a single pass.
    assert calls == {"z": 1, "y": 1} and h_s.calls == 1 and g_s.calls == 1
    assert np.array_equal(out.image, decoded)
    assert set(out.latents) == {"y_hat", "sigma_hat"}
    for key in ("y_hat", "sigma_hat"):
        assert np.array_equal(out.latents[key], latents[key])  # bit-exact, same ops
    assert list(out.times) == [
        "open", "entropy_decode_z", "h_s", "entropy_decode_y", "g_s", "image", "latents"
    ]  # fmt: skip
    assert all(t >= 0 for t in out.times.values())
    shared = sum(out.times[k] for k in ("open", "entropy_decode_z", "h_s", "entropy_decode_y"))
    assert out.decode_time == pytest.approx(shared + out.times["g_s"] + out.times["image"])
    assert out.latents_time == pytest.approx(shared + out.times["latents"])
    assert out.latents_time < out.decode_time or out.times["g_s"] == 0


def test_round_trip_decodes_each_bitstream_once(model):
    image = synthetic_image(64, 64, seed=4)
    calls, h_s, g_s, restore = _counted(model)
    try:
        r = metrics.round_trip(model, image)
    finally:
        _restore(model, restore)
    # CompressAI's compress() itself decodes z_hat and runs h_s (the encoder needs
    # sigma_hat): one of each for encoding, one for the single decode pass.
    assert calls == {"z": 2, "y": 1} and h_s.calls == 2 and g_s.calls == 1
    assert np.array_equal(r.decoded, model.decode(r.data))
    assert np.array_equal(r.latents["y_hat"], model.latents(r.data)["y_hat"])
    assert r.decode_time > 0 and 0 < r.latents_time < r.decode_time + 1e-3


def test_decode_batch_equals_file_by_file_and_takes_other_transforms(model):
    images = [synthetic_image(64, 96, seed=s) for s in (5, 6, 7)]
    files = [model.encode(im) for im in images]
    batch = model.decode_batch(files, image=True, latents=True)
    for f, got, lat in zip(files, batch.images, batch.latents, strict=True):
        assert np.array_equal(got, model.decode(f))
        assert np.array_equal(lat["y_hat"], model.latents(f)["y_hat"])
    # Transforms can be replaced (the bench runs them through onnxruntime).
    g_s = _Counting(model.net.g_s)
    again = model.decode_batch(files, image=True, latents=False, transforms={"g_s": g_s})
    assert g_s.calls == 1 and again.latents is None
    assert all(np.array_equal(a, b) for a, b in zip(again.images, batch.images, strict=True))
    with pytest.raises(ValueError, match="one image size"):
        model.decode_batch([files[0], model.encode(synthetic_image(64, 64, seed=1))])


def test_staged_decode_refuses_other_files_first(model):
    jpeg = JPEG.load(4)
    data = jpeg.encode(synthetic_image(64, 64, seed=2))
    with pytest.raises(BitstreamError):
        model.decode_stages(data)
    # A codec without its own staged decode gets the two-step default.
    out = jpeg.decode_stages(data)
    assert out.latents is None and out.latents_time is None
    assert np.array_equal(out.image, jpeg.decode(data)) and out.decode_time > 0


def test_batch_encode_on_the_cpu_writes_what_encode_writes(model):
    """Equal padded sizes are batched through g_a/h_a, the entropy coding overlaps in a
    thread; on the CPU every file is byte-identical to encode()'s, in input order."""
    images = [synthetic_image(64, 96, seed=s) for s in range(5)]
    images += [synthetic_image(70, 64, seed=9), synthetic_image(128, 128, seed=3)]
    files = model.encode_batch(images, batch_size=2)
    assert files == [model.encode(im) for im in images]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_batch_encode_on_the_gpu_decodes_on_the_gpu():
    """On a GPU, batched convolutions may round differently from single images (the
    bytes may differ); every file must still decode, on the device that encoded it, to
    the image its own latents give, close to the per-image path's."""
    gpu = CompressAIHyperprior("ms-ssim").from_network(
        2, tiny_network(8, 12, seed=1), device="cuda"
    )
    images = [synthetic_image(64, 96, seed=s) for s in range(6)]
    files = gpu.encode_batch(images, batch_size=4)
    for image, data in zip(images, files, strict=True):
        single = gpu.decode(gpu.encode(image))
        out = gpu.decode_stages(data, image=True, latents=True)
        assert out.image.shape == image.shape
        assert abs(metrics.psnr(image, out.image) - metrics.psnr(image, single)) < 0.1
        assert np.array_equal(out.latents["y_hat"], gpu.latents(data)["y_hat"])
        assert np.array_equal(out.image, gpu.decode(data))  # deterministic on its device
