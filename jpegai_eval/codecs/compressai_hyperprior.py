"""The bmshj2018 scale hyperprior through CompressAI: real rANS bitstreams and the
compressed domain (y_hat, sigma_hat) read from them.

J. Ballé, D. Minnen, S. Singh, S.J. Hwang, N. Johnston, "Variational Image Compression
with a Scale Hyperprior", ICLR 2018; CompressAI's ``ScaleHyperprior``::

          ┌───┐  y  ┌───┐  z  ┌───┐ z_hat          z_hat ┌───┐ sigma_hat
    x ──►─┤g_a├──►──┤h_a├──►──┤ Q ├──► EB ··· EB ──►───┤h_s├───►──┐
          └───┘  │  └───┘     └───┘                     └───┘      │
                 ▼                                                  ▼
               ┌───┐ y_hat                          y_hat         ┌───┐
               │ Q ├──► GC ········ bitstream ······· GC ──►──┬──►─┤g_s├──► x_hat
               └───┘                                          │    └───┘
                                                               └──► latents()

``encode`` pads the image (edge replication, right and bottom) to a multiple of 64,
runs CompressAI's ``compress`` and packs the y and z strings into a ``.jai`` file.
``decode`` runs the steps of CompressAI's ``decompress`` on those strings (same
values; y_hat is decoded by ``decode_y``, faster) and crops to the original size.
``latents`` entropy-decodes z_hat, runs h_s to get sigma_hat (``scales_hat``),
entropy-decodes y_hat with it and stops: g_s never runs. Both latents are cropped to
``ceil(H / 16) x ceil(W / 16)``, the part that covers the original image.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.errors import BitstreamError, UserError
from jpegai_eval.framework.types import (
    LEARNED_CODEC_MAX_PIXELS,
    Codec,
    CodecModel,
    LatentSpec,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from jpegai_eval.framework.bitstream import Header
    from jpegai_eval.framework.remote import RemoteFile

#: CompressAI's zoo configurations (N, M) of bmshj2018-hyperprior per quality.
ZOO_CONFIGS: dict[int, tuple[int, int]] = {
    1: (128, 192),
    2: (128, 192),
    3: (128, 192),
    4: (128, 192),
    5: (128, 192),
    6: (192, 320),
    7: (192, 320),
    8: (192, 320),
}
#: CompressAI's rate-distortion lambdas per quality, by training metric.
LAMBDAS: dict[str, tuple[float, ...]] = {
    "ms-ssim": (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00),
    "mse": (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800),
}
STRIDE = 16  # y_hat is H/16 x W/16
MULTIPLE = 64  # g_a (16) x h_a (4): images are padded to this


class CompressAIHyperprior(Codec):
    """``hyperprior-msssim`` / ``hyperprior-mse`` with the ``compressai`` backend."""

    backend = "compressai"
    qualities = tuple(ZOO_CONFIGS)
    has_compressed_domain = True
    max_pixels = LEARNED_CODEC_MAX_PIXELS

    def __init__(self, metric: str) -> None:
        if metric not in LAMBDAS:
            raise ValueError(f"metric must be one of {sorted(LAMBDAS)}")
        self.metric = metric
        self.id = "hyperprior-msssim" if metric == "ms-ssim" else "hyperprior-mse"
        self.description = (
            f"bmshj2018 scale hyperprior trained for {metric.upper()} (CompressAI, rANS); "
            "compressed domain y_hat + sigma_hat"
        )

    def default_weights(self, quality: int) -> str:
        """``demo`` for the MS-SSIM model (the embedded default), else ``pretrained``."""
        return "demo" if self.metric == "ms-ssim" else "pretrained"

    def config(self, quality: int, weights: str | None = None) -> tuple[int, int]:
        """(N, M) of the model that ``weights`` gives at ``quality``."""
        from jpegai_eval.codecs import weights as w

        self.check_quality(quality)
        weights = weights or self.default_weights(quality)
        if weights == "demo":
            config = w.demo_config(self.id, quality)
            if config is None:
                w.demo_path(self.id, quality)  # raises the WeightsError
            return config  # type: ignore[return-value]
        if weights == "pretrained":
            return ZOO_CONFIGS[quality]
        loaded = w.load_weights(self.id, quality, weights)
        return loaded.N, loaded.M

    def latent_spec(self, quality: int, weights: str | None = None) -> LatentSpec:
        """M channels at stride 16; M depends on the weights (``demo`` ones are narrow)."""
        _, m = self.config(quality, weights)
        return LatentSpec(channels=m, stride=STRIDE, sigma_channels=m, dtype="float32")

    def lmbda(self, quality: int) -> float:
        return LAMBDAS[self.metric][self.check_quality(quality) - 1]

    def remote_files(
        self,
        quality: int,
        weights: str | None = None,
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> list[RemoteFile]:
        """CompressAI's zoo checkpoint for ``quality`` when ``weights`` is ``pretrained``
        (the demo weights ship with the package; a path is the user's own)."""
        from jpegai_eval.codecs import weights as w

        self.check_quality(quality)
        if (weights or self.default_weights(quality)) != "pretrained":
            return []
        return [w.pretrained_file(self.id, quality, weights_dir)]

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> HyperpriorModel:
        from jpegai_eval.codecs import weights as w

        self.check_quality(quality)
        weights = weights or self.default_weights(quality)
        loaded = w.load_weights(self.id, quality, weights, weights_dir)
        net = w.build_model(loaded)
        return HyperpriorModel(self, quality, net, w.weights_id(net), loaded.source, device)

    def from_network(self, quality: int, net: Any, device: str = "cpu") -> HyperpriorModel:
        """Wrap an in-memory ScaleHyperprior (tests, training); updates its CDFs."""
        from jpegai_eval.codecs.weights import weights_id

        net.eval()
        net.update(force=True)
        return HyperpriorModel(self, quality, net, weights_id(net), "<in memory>", device)


class HyperpriorModel(CodecModel):
    """One hyperprior network at one quality."""

    codec: CompressAIHyperprior

    def __init__(
        self,
        codec: CompressAIHyperprior,
        quality: int,
        net: Any,
        weights_id: bytes,
        source: str,
        device: str = "cpu",
    ) -> None:
        super().__init__(codec, quality, weights_id)
        self.net = net.to(device)
        self.device = device
        self.source = source
        #: The entropy coder's CDF tables as Python lists, and the tensor they came from.
        self._cdf_lists: tuple[list[Any], ...] = ()
        self._cdf_source: Any = None
        m = int(net.M)
        self.latent_spec = LatentSpec(channels=m, stride=STRIDE, sigma_channels=m)

    # -- geometry ------------------------------------------------------------------
    @staticmethod
    def padded_size(height: int, width: int) -> tuple[int, int]:
        return (-(-height // MULTIPLE) * MULTIPLE, -(-width // MULTIPLE) * MULTIPLE)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return (int(self.net.M), math.ceil(height / STRIDE), math.ceil(width / STRIDE))

    def z_shape(self, height: int, width: int) -> tuple[int, int]:
        ph, pw = self.padded_size(height, width)
        return (ph // MULTIPLE, pw // MULTIPLE)

    def to_input(self, image: np.ndarray) -> torch.Tensor:
        """The padded (1, 3, H', W') float tensor in [0, 1] that ``compress`` sees."""
        import torch
        import torch.nn.functional as F

        h, w = image.shape[:2]
        if h < MULTIPLE or w < MULTIPLE:
            raise UserError(
                f"The image is {w}x{h} pixels; the hyperprior needs at least "
                f"{MULTIPLE}x{MULTIPLE} (its padding multiple) to code anything but "
                "padding. Use a larger image, or upscale this one."
            )
        x = torch.from_numpy(image).to(self.device).permute(2, 0, 1).unsqueeze(0)
        # contiguous: the permuted view is channels-last, which would make every
        # convolution of the network run in that (here slower) memory format.
        x = x.to(torch.float32).div_(255.0).contiguous()
        ph, pw = self.padded_size(h, w)
        if (ph, pw) != (h, w):
            x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        return x

    # -- CodecModel steps ----------------------------------------------------------
    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        import torch

        from jpegai_eval.framework.bitstream import pack_strings

        x = self.to_input(image)
        with torch.inference_mode():
            out = self.net.compress(x)
        y_strings, z_strings = out["strings"]
        payload = pack_strings([y_strings[0], z_strings[0]])
        return payload, self.latent_shape(*image.shape[:2])

    def _strings(self, payload: bytes, header: Header) -> list[bytes]:
        from jpegai_eval.framework.bitstream import unpack_strings

        expected = self.latent_shape(header.height, header.width)
        if tuple(header.latent_shape) != expected:
            raise BitstreamError(
                f"The .jai header gives latent shape {tuple(header.latent_shape)} but these "
                f"weights ({self.source}) produce {expected} for a {header.width}x"
                f"{header.height} image. Decode it with the weights that encoded it."
            )
        strings = unpack_strings(payload)
        if len(strings) != 2:
            raise BitstreamError(
                f"The .jai payload holds {len(strings)} strings; a hyperprior file holds 2 "
                "(y and z). Re-encode the image."
            )
        zh, zw = self.z_shape(header.height, header.width)
        symbols = {
            "y": (self.net.gaussian_conditional, math.prod(expected[:1]) * zh * zw * 16),
            "z": (self.net.entropy_bottleneck, int(self.net.N) * zh * zw),
        }
        for (name, (coder, count)), string in zip(symbols.items(), strings, strict=True):
            need = min_string_bytes(coder, count)
            if len(string) < need:
                raise BitstreamError(
                    f"The .jai header gives a {header.width}x{header.height} image, but its "
                    f"{name} string ({len(string)} bytes) is too short to code the {count:,} "
                    f"symbols of that size (at least {need:,} bytes). The file is corrupt or "
                    "crafted; re-encode the image."
                )
        return strings

    def entropy_decode(
        self, y_strings: list[bytes], z_strings: list[bytes], height: int, width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales_hat, y_hat) of a batch of bitstreams of one image size: decode z_hat,
        run h_s, decode y_hat -- CompressAI's ``decompress`` up to, not including, g_s."""
        net = self.net
        z_hat = net.entropy_bottleneck.decompress(z_strings, self.z_shape(height, width))
        scales_hat = net.h_s(z_hat)
        return scales_hat, self.decode_y(y_strings, scales_hat)

    def decode_y(self, y_strings: list[bytes], scales_hat: torch.Tensor) -> torch.Tensor:
        """y_hat (B, M, h, w) from its strings and sigma_hat: the values of CompressAI's
        ``gaussian_conditional.decompress(strings, build_indexes(scales_hat))``, faster:
        the CDF indexes come from one ``bucketize`` instead of a loop of 64 tensor
        comparisons, the CDF tables are converted to Python lists once per model instead
        of on every call, and the decoded symbols are read with ``np.fromiter`` (the C++
        rANS decoding itself is a fifth of the time). Same values, about 2.5x faster
        (docs/benchmarks.md)."""
        import numpy as np
        import torch

        gc = self.net.gaussian_conditional
        if self._cdf_source is not gc._quantized_cdf:  # update() replaces the tables
            self._cdf_lists = (
                gc._quantized_cdf.tolist(),
                gc._cdf_length.reshape(-1).int().tolist(),
                gc._offset.reshape(-1).int().tolist(),
            )
            self._cdf_source = gc._quantized_cdf
        table = gc.scale_table[:-1].to(scales_hat.device, scales_hat.dtype)
        # == build_indexes(): the number of table scales below each (bounded) scale.
        indexes = torch.bucketize(gc.lower_bound_scale(scales_hat), table).int().cpu().numpy()
        y_hat = torch.empty(scales_hat.shape, dtype=scales_hat.dtype)
        for i, string in enumerate(y_strings):
            values = gc.entropy_coder.decode_with_indexes(
                string, indexes[i].ravel().tolist(), *self._cdf_lists
            )
            # np.fromiter reads the list of ints 2.5x faster than torch.tensor does.
            symbols = np.fromiter(values, dtype=np.float32, count=len(values))
            y_hat[i] = torch.from_numpy(symbols).reshape(y_hat.shape[1:])
        return y_hat.to(scales_hat.device)

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        import torch

        y_string, z_string = self._strings(payload, header)
        with torch.inference_mode():
            # CompressAI's decompress(), with the faster y_hat decoding.
            _, y_hat = self.entropy_decode([y_string], [z_string], header.height, header.width)
            x_hat = self.net.g_s(y_hat).clamp_(0, 1)
        return to_uint8(x_hat[0, :, : header.height, : header.width])

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, np.ndarray]:
        import torch

        y_string, z_string = self._strings(payload, header)
        with torch.inference_mode():
            # decompress() up to, not including, g_s.
            scales_hat, y_hat = self.entropy_decode(
                [y_string], [z_string], header.height, header.width
            )
        _, h, w = self.latent_shape(header.height, header.width)
        return {
            "y_hat": y_hat[0, :, :h, :w].float().cpu().numpy(),
            "sigma_hat": scales_hat[0, :, :h, :w].float().cpu().numpy(),
        }


def min_string_bytes(coder: Any, count: int) -> int:
    """A lower bound on the bytes of an entropy-coded string of ``count`` symbols: each
    costs at least -log2 of the largest probability in ``coder``'s quantized CDF tables
    (16-bit precision); halved and less 8 bytes, to be safe, but never below the 4 bytes
    of the rANS state every string ends with."""
    import torch

    cdf, length = coder._quantized_cdf, coder._cdf_length.reshape(-1, 1)
    freq = torch.diff(cdf.to(torch.int64), dim=1)
    valid = torch.arange(freq.shape[1]).unsqueeze(0) < (length - 1)
    top = int(torch.where(valid, freq, 0).max().clamp(min=1))
    bits = -math.log2(min(top, 2**16 - 1) / 2**16)
    return max(4, int(count * bits / 16) - 8)  # the coder flushes a 4-byte state


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """A (3, H, W) tensor in [0, 1] as an (H, W, 3) uint8 array (rounded)."""
    import torch

    x = x.detach().clamp(0, 1).mul(255.0).round().to("cpu", torch.uint8)
    return x.permute(1, 2, 0).contiguous().numpy()
