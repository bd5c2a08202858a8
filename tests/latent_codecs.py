"""Test plugin codecs whose compressed domains are not the paper's y_hat + sigma_hat.

- ``tiny-meanscale``: CompressAI's mean-scale hyperprior (``MeanScaleHyperprior``,
  Minnen et al. 2018, the ``mbt2018-mean`` architecture) with a few channels and
  random weights, as a plugin author would wrap it: its latents are y_hat, sigma_hat
  and mu_hat, entropy-decoded from the bitstream (h_s on z_hat, then y with those
  means and scales) without g_s.
- ``blockmean-s8`` / ``blockmean-s16``: a block-mean codec of stride 8 or 16 whose
  only latent tensor is y_hat (no hyperprior, like a factorized prior): the payload is
  each block's mean colour as one byte per channel, y_hat those means in [0, 1], the
  decoded image the means upsampled.

Registered by :class:`LatentCodecsPlugin` (``plugins.pm.register(...)``).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from jpegai_eval import (
    BitstreamError,
    Codec,
    CodecModel,
    Header,
    LatentSpec,
    LatentTensor,
    hookimpl,
    pack_strings,
    unpack_strings,
)

#: y_hat's stride and the padding multiple of CompressAI's image models.
STRIDE, MULTIPLE = 16, 64


class MeanScaleModel(CodecModel):
    """A MeanScaleHyperprior at one quality; the payload is its y and z strings."""

    def __init__(self, codec: Codec, quality: int, net: Any) -> None:
        state = b"".join(t.cpu().numpy().tobytes() for t in net.state_dict().values())
        super().__init__(codec, quality, hashlib.blake2b(state, digest_size=8).digest())
        self.net = net
        self.latent_spec = codec.latent_spec(quality)

    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        import torch
        import torch.nn.functional as F

        h, w = image.shape[:2]
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
        ph, pw = -(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE
        x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        with torch.inference_mode():
            out = self.net.compress(x)
        (y,), (z,) = out["strings"]
        return pack_strings([y, z]), self.latent_spec.shape_for(h, w)

    def _hat(self, payload: bytes, header: Header) -> dict[str, Any]:
        """y_hat, mu_hat, sigma_hat (padded) from the strings: z, h_s, then y."""
        import torch

        strings = unpack_strings(payload)
        if len(strings) != 2:
            raise BitstreamError(f"The payload holds {len(strings)} strings, not y and z.")
        ph = -(-header.height // MULTIPLE) * MULTIPLE
        pw = -(-header.width // MULTIPLE) * MULTIPLE
        net = self.net
        with torch.inference_mode():
            z_hat = net.entropy_bottleneck.decompress([strings[1]], (ph // 64, pw // 64))
            scales, means = net.h_s(z_hat).chunk(2, 1)
            indexes = net.gaussian_conditional.build_indexes(scales)
            y_hat = net.gaussian_conditional.decompress([strings[0]], indexes, means=means)
        return {"y_hat": y_hat, "mu_hat": means, "sigma_hat": scales}

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        import torch

        y_hat = self._hat(payload, header)["y_hat"]
        with torch.inference_mode():
            x = self.net.g_s(y_hat).clamp(0, 1)[0, :, : header.height, : header.width]
        return (x.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, np.ndarray]:
        h, w = math.ceil(header.height / STRIDE), math.ceil(header.width / STRIDE)
        return {
            name: np.ascontiguousarray(t[0, :, :h, :w].numpy(), dtype=np.float32)
            for name, t in self._hat(payload, header).items()
        }


class TinyMeanScale(Codec):
    """A mean-scale hyperprior plugin: y_hat, sigma_hat and mu_hat (M each, stride 16)."""

    id = "tiny-meanscale"
    backend = "test"
    qualities = (1,)
    has_compressed_domain = True
    min_side = MULTIPLE
    description = "Test plugin: CompressAI MeanScaleHyperprior(8, 12), random weights"
    N, M = 8, 12

    def latent_spec(self, quality: int, weights: str | None = None) -> LatentSpec:
        mu = LatentTensor("mu_hat", self.M, STRIDE)
        return LatentSpec(self.M, STRIDE, self.M, others=(mu,))

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | None = None,
    ) -> CodecModel:
        import torch
        from compressai.models import MeanScaleHyperprior

        torch.manual_seed(0)
        net = MeanScaleHyperprior(self.N, self.M)
        with torch.no_grad():  # so that |y| > 0.5 somewhere with random weights
            net.g_a[6].weight.mul_(20.0)
        net.eval()
        net.update(force=True)
        return MeanScaleModel(self, self.check_quality(quality), net)


class BlockMeanModel(CodecModel):
    """Each ``stride`` x ``stride`` block's mean colour, one byte per channel."""

    codec: BlockMean

    def _grid(self, height: int, width: int) -> tuple[int, int]:
        s = self.codec.stride
        return -(-height // s), -(-width // s)

    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        s = self.codec.stride
        h, w = self._grid(*image.shape[:2])
        padded = np.pad(
            image.astype(np.float32),
            ((0, h * s - image.shape[0]), (0, w * s - image.shape[1]), (0, 0)),
            mode="edge",
        )
        means = padded.reshape(h, s, w, s, 3).mean(axis=(1, 3))
        return np.round(means).astype(np.uint8).tobytes(), (3, h, w)

    def _means(self, payload: bytes, header: Header) -> np.ndarray:
        h, w = self._grid(header.height, header.width)
        if len(payload) != h * w * 3:
            raise BitstreamError(f"The payload has {len(payload)} bytes, not {h * w * 3}.")
        return np.frombuffer(payload, np.uint8).reshape(h, w, 3)

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        s = self.codec.stride
        up = self._means(payload, header).repeat(s, axis=0).repeat(s, axis=1)
        return np.ascontiguousarray(up[: header.height, : header.width])

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, np.ndarray]:
        means = self._means(payload, header).astype(np.float32) / 255
        return {"y_hat": np.ascontiguousarray(means.transpose(2, 0, 1))}


class BlockMean(Codec):
    """A y_hat-only codec of any stride (3 channels: the block means)."""

    backend = "test"
    qualities = (1,)
    has_compressed_domain = True

    def __init__(self, stride: int) -> None:
        self.stride = stride
        self.id = f"blockmean-s{stride}"
        self.description = f"Test plugin: {stride}x{stride} block means, y_hat only"

    def latent_spec(self, quality: int, weights: str | None = None) -> LatentSpec:
        return LatentSpec(3, self.stride, 0)

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | None = None,
    ) -> CodecModel:
        # No weights; the id names the algorithm, so its cache entries are its own.
        wid = hashlib.sha256(self.id.encode()).digest()[:8]
        model = BlockMeanModel(self, self.check_quality(quality), wid)
        model.latent_spec = self.latent_spec(quality)
        return model


class LatentCodecsPlugin:
    @hookimpl
    def register_codecs(self, register):
        register(TinyMeanScale())
        register(BlockMean(8))
        register(BlockMean(16))
