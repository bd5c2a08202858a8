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
One staged decode (``decode_batch``; ``decode_stages`` for one file) serves
``decode``, ``latents``, the encode stage and the bench: it runs the steps of
CompressAI's ``decompress`` on those strings (same values, faster: ``decode_z`` and
``decode_y`` read the rANS strings into arrays with ``rans``) -- entropy-decode z_hat,
h_s gives sigma_hat (``scales_hat``), entropy-decode y_hat with it -- and then g_s for
the image (cropped to the original size) and/or the latents, from the same y_hat.
``latents`` alone stops before g_s: g_s never runs. Both latents are cropped to
``ceil(H / 16) x ceil(W / 16)``, the part that covers the original image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.types import (
    LEARNED_CODEC_MAX_PIXELS,
    Codec,
    CodecModel,
    Decoded,
    LatentSpec,
)
from jpegai_eval.framework.errors import BitstreamError, UserError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from jpegai_eval.framework.api.bitstream import Header
    from jpegai_eval.framework.io.remote import RemoteFile

#: What replaces h_s or g_s in a staged decode (``transforms``): tensor in, tensor out.
StageTransform = Callable[["torch.Tensor"], "torch.Tensor"]

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
    min_side = MULTIPLE  # a smaller image would code only padding

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
            assert config is not None  # demo_path raised: no demo weights for quality
            return config
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

    def training_config(self, quality: int) -> tuple[int, int]:
        """CompressAI's (N, M) for ``quality`` (what ``codec train`` builds by default)."""
        return ZOO_CONFIGS[self.check_quality(quality)]

    def network(self, n: int, m: int) -> Any:
        """A fresh ``ScaleHyperprior(n, m)`` (what ``codec train`` starts from)."""
        from jpegai_eval.codecs.weights import import_compressai

        return import_compressai().ScaleHyperprior(n, m)

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


class CompressAIModel(CodecModel):
    """A CompressAI network at one quality: what every CompressAI codec's model shares
    (the network on its device, where its weights came from, the padding to a multiple
    of 64 and the latent geometry at stride 16). :class:`HyperpriorModel` here and
    :class:`~jpegai_eval.codecs.compressai_zoo.ZooModel` build on it."""

    def __init__(
        self,
        codec: Codec,
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

    # -- geometry ------------------------------------------------------------------
    @staticmethod
    def padded_size(height: int, width: int) -> tuple[int, int]:
        return (-(-height // MULTIPLE) * MULTIPLE, -(-width // MULTIPLE) * MULTIPLE)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return (int(self.net.M), math.ceil(height / STRIDE), math.ceil(width / STRIDE))

    def to_input(self, image: np.ndarray) -> torch.Tensor:
        """The padded (1, 3, H', W') float tensor in [0, 1] that ``compress`` sees."""
        import torch
        import torch.nn.functional as F

        h, w = image.shape[:2]
        if h < MULTIPLE or w < MULTIPLE:
            raise UserError(
                f"The image is too small: {w}x{h}, the minimum is {MULTIPLE}x{MULTIPLE} "
                f"pixels for {self.codec.key} (its padding multiple; a smaller image would "
                "be coded as mostly padding). Use a larger image, or upscale this one."
            )
        x = torch.from_numpy(image).to(self.device).permute(2, 0, 1).unsqueeze(0)
        # contiguous: the permuted view is channels-last, which would make every
        # convolution of the network run in that (here slower) memory format.
        x = x.to(torch.float32).div_(255.0).contiguous()
        ph, pw = self.padded_size(h, w)
        if (ph, pw) != (h, w):
            x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        return x


class HyperpriorModel(CompressAIModel):
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
        super().__init__(codec, quality, net, weights_id, source, device)
        #: What is derived from an entropy coder's CDF tables, computed once per table:
        #: name -> (the quantized CDF tensor it came from, the value). See :meth:`_per_table`.
        self._table_derived: dict[str, tuple[Any, Any]] = {}
        m = int(net.M)
        self.latent_spec = LatentSpec(channels=m, stride=STRIDE, sigma_channels=m)

    # -- geometry ------------------------------------------------------------------
    def z_shape(self, height: int, width: int) -> tuple[int, int]:
        ph, pw = self.padded_size(height, width)
        return (ph // MULTIPLE, pw // MULTIPLE)

    # -- CodecModel steps ----------------------------------------------------------
    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        import torch

        from jpegai_eval.framework.api.bitstream import pack_strings

        x = self.to_input(image)
        with torch.inference_mode():
            out = self.net.compress(x)
        y_strings, z_strings = out["strings"]
        payload = pack_strings([y_strings[0], z_strings[0]])
        return payload, self.latent_shape(*image.shape[:2])

    def encode_batch(self, images: list[np.ndarray], batch_size: int = 8) -> list[bytes]:
        """``.jai`` files of ``images``, with the analysis transforms batched: images of
        equal padded size go through g_a and h_a together on the model's device (the
        GPU's strength), while a background thread entropy-codes the previous batch on
        the CPU (CompressAI's rANS coder is CPU-only), so the two overlap.

        Each file decodes with :meth:`decode` like one from :meth:`encode`: h_s, whose
        sigma_hat selects the entropy coder's tables, runs per image exactly as the
        decoder runs it. On a GPU, batched convolutions may round differently from
        single-image ones (CompressAI's documented GPU non-determinism), so y_hat and
        the bytes can differ from :meth:`encode`'s in rare elements; decode such files
        on the device that encoded them. On the CPU they are checked to be identical
        (tests/test_staged_decode.py)."""
        from concurrent.futures import Future, ThreadPoolExecutor

        import torch

        from jpegai_eval.framework.api.types import check_image, check_size

        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            check_image(image)
            check_size(image, self.codec)
            groups.setdefault(self.padded_size(*image.shape[:2]), []).append(i)
        step = max(1, batch_size)
        files: dict[int, bytes] = {}
        with ThreadPoolExecutor(1, thread_name_prefix="entropy-coder") as coder:
            pending: list[Future[list[bytes]]] = []
            chunks = []
            for indexes in groups.values():
                for start in range(0, len(indexes), step):
                    chunk = indexes[start : start + step]
                    x = torch.cat([self.to_input(images[i]) for i in chunk])
                    with torch.inference_mode():
                        y = self.net.g_a(x)
                        z = self.net.h_a(torch.abs(y))
                    # Coded while the next chunk's g_a and h_a run.
                    pending.append(coder.submit(self._code, [images[i] for i in chunk], y, z))
                    chunks.append(chunk)
            for chunk, future in zip(chunks, pending, strict=True):
                files.update(zip(chunk, future.result(), strict=True))
        return [files[i] for i in range(len(images))]

    def _code(self, images: list[np.ndarray], y: torch.Tensor, z: torch.Tensor) -> list[bytes]:
        """Entropy-code one batch of g_a / h_a outputs: CompressAI's ``compress`` from
        its entropy bottleneck on, with h_s run per image as the decoder runs it."""
        import torch

        from jpegai_eval.framework.api.bitstream import pack_strings

        net = self.net
        out = []
        with torch.inference_mode():
            z_strings = net.entropy_bottleneck.compress(z)
            z_hat = net.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
            for i, image in enumerate(images):
                scales_hat = net.h_s(z_hat[i : i + 1])
                indexes = net.gaussian_conditional.build_indexes(scales_hat)
                y_strings = net.gaussian_conditional.compress(y[i : i + 1], indexes)
                payload = pack_strings([y_strings[0], z_strings[i]])
                out.append(self.container(image, payload, self.latent_shape(*image.shape[:2])))
        return out

    def strings(self, payload: bytes, header: Header) -> tuple[bytes, bytes]:
        """(y string, z string) of a checked payload (see :meth:`CodecModel.open`)."""
        from jpegai_eval.framework.api.bitstream import unpack_strings

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
            need = min_string_bytes(coder, count, self._per_table(name, coder, min_symbol_bits))
            if len(string) < need:
                raise BitstreamError(
                    f"The .jai header gives a {header.width}x{header.height} image, but its "
                    f"{name} string ({len(string)} bytes) is too short to code the {count:,} "
                    f"symbols of that size (at least {need:,} bytes). The file is corrupt or "
                    "crafted; re-encode the image."
                )
        return strings[0], strings[1]

    def _per_table(self, name: str, coder: Any, derive: Callable[[Any], Any]) -> Any:
        """``derive(coder)``, computed once per CDF table and kept under ``name``:
        ``update()`` replaces the tables (a new tensor), and the value with them."""
        cached = self._table_derived.get(name)
        if cached is None or cached[0] is not coder._quantized_cdf:
            cached = (coder._quantized_cdf, derive(coder))
            self._table_derived[name] = cached
        return cached[1]

    # -- the staged decode -----------------------------------------------------------
    def decode_batch(
        self,
        files: list[bytes],
        *,
        image: bool = True,
        latents: bool = True,
        transforms: Mapping[str, StageTransform] | None = None,
    ) -> StagedBatch:
        """The staged decode of ``files`` (all of one image size) as one batch::

            open        container checks (codec, quality, weights), payload strings
            entropy_decode_z   z_hat from the z strings (:meth:`decode_z`)
            h_s         sigma_hat = h_s(z_hat)
            entropy_decode_y   y_hat from the y strings with sigma_hat (:meth:`decode_y`)
            g_s         x_hat = g_s(y_hat), clamped           (only when ``image``)
            image       crop, round to uint8 (H, W, 3)         (only when ``image``)
            latents     crop y_hat and sigma_hat to float32    (only when ``latents``)

        CompressAI's ``decompress`` is the first five; :meth:`decode`, :meth:`latents`,
        the evaluator's encode stage (both outputs from one pass) and the bench all run
        this. ``transforms`` replaces h_s and/or g_s by other callables on tensors (the
        bench runs them through onnxruntime). Each stage is timed (synchronising the
        GPU first when the model is on one)."""
        clock = _Laps(self.device)
        opened = []
        for data in files:
            header, payload = self.open(data)
            opened.append((header, *self.strings(payload, header)))
        sizes = {(h.height, h.width) for h, _, _ in opened}
        if len(sizes) != 1:
            raise ValueError(f"decode_batch takes files of one image size; got {sorted(sizes)}")
        clock.lap("open")
        return self._stages(
            opened, clock, image=image, latents=latents, transforms=transforms or {}
        )

    def _stages(
        self,
        opened: list[tuple[Header, bytes, bytes]],
        clock: _Laps,
        *,
        image: bool,
        latents: bool,
        transforms: Mapping[str, StageTransform],
    ) -> StagedBatch:
        import torch

        net = self.net
        header = opened[0][0]
        height, width = header.height, header.width
        h_s = transforms.get("h_s", net.h_s)
        g_s = transforms.get("g_s", net.g_s)
        out = StagedBatch([h for h, _, _ in opened], only=dict(STAGE_ONLY))
        with torch.inference_mode():
            z_hat = self.decode_z([z for _, _, z in opened], self.z_shape(height, width))
            clock.lap("entropy_decode_z")
            scales_hat = h_s(z_hat)
            clock.lap("h_s")
            y_hat = self.decode_y([y for _, y, _ in opened], scales_hat)
            clock.lap("entropy_decode_y")
            if image:
                x_hat = g_s(y_hat).clamp_(0, 1)
                clock.lap("g_s")
                out.images = [to_uint8(x[:, :height, :width]) for x in x_hat]
                clock.lap("image")
            if latents:
                _, h, w = self.latent_shape(height, width)
                ys = y_hat[:, :, :h, :w].float().cpu().numpy()
                ss = scales_hat[:, :, :h, :w].float().cpu().numpy()
                out.latents = [{"y_hat": y, "sigma_hat": s} for y, s in zip(ys, ss, strict=True)]
                clock.lap("latents")
        out.times = clock.times
        return out

    def _decode_stages(
        self, payload: bytes, header: Header, *, image: bool, latents: bool
    ) -> Decoded:
        clock = _Laps(self.device)
        y_string, z_string = self.strings(payload, header)
        batch = self._stages(
            [(header, y_string, z_string)], clock, image=image, latents=latents, transforms={}
        )
        return Decoded(
            header,
            image=batch.images[0] if batch.images is not None else None,
            latents=batch.latents[0] if batch.latents is not None else None,
            times=batch.times,
            only=batch.only,
        )

    def decode_z(self, z_strings: list[bytes], shape: tuple[int, int]) -> torch.Tensor:
        """z_hat (B, N, h, w) from its strings: the values of CompressAI's
        ``entropy_bottleneck.decompress(strings, shape)``, decoded by :mod:`.rans`."""
        import numpy as np
        import torch

        from jpegai_eval.codecs import rans

        eb = self.net.entropy_bottleneck
        tables = self._per_table("z_tables", eb, rans.Tables.of)
        channels = tables.lengths.shape[0]
        # == EntropyBottleneck._build_indexes: channel c uses table c.
        indexes = np.broadcast_to(
            np.arange(channels, dtype=np.int32)[:, None, None], (channels, *shape)
        )
        symbols = np.stack(
            [decode_string("z", s, indexes, tables, eb.entropy_coder) for s in z_strings]
        )
        medians = eb._get_medians().detach().reshape(1, channels, 1, 1)
        # == EntropyModel.dequantize: the symbols in the medians' dtype, plus the medians.
        z_hat = torch.from_numpy(symbols).to(medians)
        return z_hat.add_(medians)

    def decode_y(self, y_strings: list[bytes], scales_hat: torch.Tensor) -> torch.Tensor:
        """y_hat (B, M, h, w) from its strings and sigma_hat: the values of CompressAI's
        ``gaussian_conditional.decompress(strings, build_indexes(scales_hat))``, faster:
        the CDF indexes come from one ``bucketize`` instead of a loop of 64 tensor
        comparisons, and :mod:`.rans` decodes them on arrays (CompressAI's decoder takes
        and returns Python lists, whose conversion cost three times the decoding).
        Same values; 5-15x faster than CompressAI's ``decompress`` at 362x362, 3-6x
        faster than the same steps through CompressAI's list-based decoder
        (docs/benchmarks.md)."""
        import numpy as np
        import torch

        from jpegai_eval.codecs import rans

        gc = self.net.gaussian_conditional
        tables = self._per_table("y_tables", gc, rans.Tables.of)
        table = gc.scale_table[:-1].to(scales_hat.device, scales_hat.dtype)
        # == build_indexes(): the number of table scales below each (bounded) scale.
        indexes = torch.bucketize(gc.lower_bound_scale(scales_hat), table).int().cpu().numpy()
        symbols = np.stack(
            [
                decode_string("y", string, indexes[i], tables, gc.entropy_coder)
                for i, string in enumerate(y_strings)
            ]
        )
        # == EntropyModel.dequantize without means: the symbols as floats.
        return torch.from_numpy(symbols).to(scales_hat.device, scales_hat.dtype)

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        image = self._decode_stages(payload, header, image=True, latents=False).image
        assert image is not None
        return image

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, np.ndarray]:
        latents = self._decode_stages(payload, header, image=False, latents=True).latents
        assert latents is not None
        return latents


#: Stages of the staged decode that serve one output only (the rest serve both).
STAGE_ONLY = {"g_s": "image", "image": "image", "latents": "latents"}


@dataclass
class StagedBatch:
    """:meth:`HyperpriorModel.decode_batch`'s result: per file the header, the image and
    the latents (None when not asked for), and the seconds of each stage for the batch."""

    headers: list[Header]
    images: list[np.ndarray] | None = None
    latents: list[dict[str, np.ndarray]] | None = None
    times: dict[str, float] = field(default_factory=dict)
    only: dict[str, str] = field(default_factory=dict)


class _Laps:
    """Seconds between laps, in order; waits for the GPU first when there is one."""

    def __init__(self, device: Any) -> None:
        import time

        self._now = time.perf_counter
        self._cuda = str(device).startswith("cuda")
        self.times: dict[str, float] = {}
        self._last = self._now()

    def lap(self, stage: str) -> None:
        if self._cuda:
            import torch

            torch.cuda.synchronize()
        now = self._now()
        self.times[stage] = self.times.get(stage, 0.0) + now - self._last
        self._last = now


def decode_string(
    name: str, string: bytes, indexes: np.ndarray, tables: Any, coder: Any
) -> np.ndarray:
    """:func:`.rans.decode`, a malformed string reported as the file's fault."""
    from jpegai_eval.codecs import rans

    try:
        return rans.decode(string, indexes, tables, coder)
    except ValueError as e:
        raise BitstreamError(
            f"The {name} string of this .jai file ({len(string)} bytes) is {e}. The file "
            "is corrupt or crafted; re-encode the image."
        ) from None


def min_symbol_bits(coder: Any) -> float:
    """The fewest bits any symbol costs under ``coder``'s quantized CDF tables (16-bit
    precision): -log2 of the largest probability they hold."""
    import torch

    cdf, length = coder._quantized_cdf, coder._cdf_length.reshape(-1, 1)
    freq = torch.diff(cdf.to(torch.int64), dim=1)
    valid = torch.arange(freq.shape[1]).unsqueeze(0) < (length - 1)
    top = int(torch.where(valid, freq, 0).max().clamp(min=1))
    return -math.log2(min(top, 2**16 - 1) / 2**16)


def min_string_bytes(coder: Any, count: int, bits: float | None = None) -> int:
    """A lower bound on the bytes of an entropy-coded string of ``count`` symbols: each
    costs at least :func:`min_symbol_bits` (pass ``bits`` when it is known); halved and
    less 8 bytes, to be safe, but never below the 4 bytes of the rANS state every
    string ends with."""
    if bits is None:
        bits = min_symbol_bits(coder)
    return max(4, int(count * bits / 16) - 8)  # the coder flushes a 4-byte state


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """A (3, H, W) tensor in [0, 1] as an (H, W, 3) uint8 array (rounded)."""
    import torch

    x = x.detach().clamp(0, 1).mul(255.0).round().to("cpu", torch.uint8)
    return x.permute(1, 2, 0).contiguous().numpy()
