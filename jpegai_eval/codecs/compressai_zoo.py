"""CompressAI's image zoo as built-in codecs: the six families, both metrics, real rANS
bitstreams, and each family's compressed domain read from the bitstream.

The families (CompressAI's zoo names, ``compressai.zoo.image``), their priors and the
tensors :meth:`CodecModel.latents` gives::

    bmshj2018-factorized   factorized prior        y_hat
    bmshj2018-hyperprior   scale hyperprior        y_hat, sigma_hat
    mbt2018-mean           mean-scale hyperprior   y_hat, sigma_hat, mu_hat
    mbt2018                + context model (AR)    y_hat, sigma_hat, mu_hat
    cheng2020-anchor       + context model (AR)    y_hat, sigma_hat, mu_hat
    cheng2020-attn         + context model (AR)    y_hat, sigma_hat, mu_hat

Each family is registered twice, ``<family>-msssim`` and ``<family>-mse`` (the metric
its zoo weights were trained for, as ``hyperprior-msssim`` / ``hyperprior-mse``); the bare
zoo name (``mbt2018-mean``) is an alias of the MS-SSIM codec, the study's metric.
``bmshj2018-hyperprior-*`` is :mod:`.compressai_hyperprior`'s codec under the zoo's name
(same network, same staged decode; ``hyperprior-msssim`` / ``hyperprior-mse`` keep their
own ids, demo weights and cache keys).

Encoding pads the image (edge replication, right and bottom) to a multiple of 64 and
runs CompressAI's ``compress``; the y (and z) strings go into a ``.jai`` file. The
staged decode (:meth:`ZooModel.entropy_decode`) runs the steps of CompressAI's
``decompress`` up to y_hat and keeps what the entropy model computed on the way:

- factorized: y_hat from the entropy bottleneck;
- mean-scale: z_hat, then h_s gives sigma_hat and mu_hat, y_hat = symbols + mu_hat;
- autoregressive (mbt2018, cheng2020): z_hat, h_s, then y_hat decoded position by
  position in raster order as CompressAI's ``_decompress_ar`` does (the masked 5x5
  context model on the y_hat decoded so far, ``entropy_parameters`` gives that
  position's sigma_hat and mu_hat, which are kept in two maps).

g_s then runs only for the image; ``latents`` stops before it and never runs g_a. Every
tensor is cropped to ``ceil(H / 16) x ceil(W / 16)``, the part covering the image.

``--weights`` is ``pretrained`` (CompressAI's zoo checkpoint for the family, metric and
quality, found or fetched through :func:`jpegai_eval.codecs.weights.pretrained_file`;
cheng2020 has qualities 1-6 only), or a checkpoint file or folder of any N and M (the
network is rebuilt with CompressAI's ``from_state_dict``), e.g. ``codec train``'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jpegai_eval.codecs.compressai_hyperprior import (
    LAMBDAS,
    MULTIPLE,
    STRIDE,
    CompressAIHyperprior,
    CompressAIModel,
    decode_string,
    min_string_bytes,
    to_uint8,
)
from jpegai_eval.framework.api.types import (
    LEARNED_CODEC_MAX_PIXELS,
    Codec,
    Decoded,
    LatentSpec,
    LatentTensor,
)
from jpegai_eval.framework.errors import BitstreamError, UsageError, WeightsError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from jpegai_eval.framework.api.bitstream import Header
    from jpegai_eval.framework.io.remote import RemoteFile

#: The priors: how y is entropy-coded, and so which tensors the latents hold.
FACTORIZED = "factorized"  # y_hat
SCALE = "scale"  # y_hat, sigma_hat
MEAN_SCALE = "mean-scale"  # y_hat, sigma_hat, mu_hat
AUTOREGRESSIVE = "autoregressive"  # y_hat, sigma_hat, mu_hat (+ context model)
#: The metrics of CompressAI's zoo and the suffix of the codec id for each.
METRIC_SUFFIX = {"ms-ssim": "msssim", "mse": "mse"}


@dataclass(frozen=True)
class Family:
    """One architecture of CompressAI's image zoo."""

    #: The zoo's name, e.g. ``mbt2018-mean``.
    name: str
    #: The class in ``compressai.models``.
    model: str
    #: (N, M) per quality, as ``compressai.zoo.image.cfgs`` (cheng2020: M = N).
    configs: dict[int, tuple[int, int]]
    prior: str
    #: The paper, for ``jpegai-eval plugins``.
    paper: str

    @property
    def latents(self) -> tuple[str, ...]:
        if self.prior == FACTORIZED:
            return ("y_hat",)
        if self.prior == SCALE:
            return ("y_hat", "sigma_hat")
        return ("y_hat", "sigma_hat", "mu_hat")

    def latent_spec(self, m: int) -> LatentSpec:
        """The compressed domain of a network with M = ``m`` latent channels."""
        if self.prior == FACTORIZED:
            return LatentSpec(channels=m, stride=STRIDE, sigma_channels=0)
        if self.prior == SCALE:
            return LatentSpec(channels=m, stride=STRIDE, sigma_channels=m)
        return LatentSpec(
            channels=m,
            stride=STRIDE,
            sigma_channels=m,
            others=(LatentTensor("mu_hat", m, STRIDE),),
        )


def _ladder(
    low: tuple[int, int], high: tuple[int, int], split: int, top: int = 8
) -> dict[int, tuple[int, int]]:
    """Qualities 1..``top``: ``low`` below ``split``, ``high`` from it on."""
    return {q: (low if q < split else high) for q in range(1, top + 1)}


#: CompressAI's image zoo, in the zoo's order.
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "bmshj2018-factorized",
            "FactorizedPrior",
            _ladder((128, 192), (192, 320), 6),
            FACTORIZED,
            "Ballé et al., ICLR 2018 (factorized prior)",
        ),
        Family(
            "bmshj2018-hyperprior",
            "ScaleHyperprior",
            _ladder((128, 192), (192, 320), 6),
            SCALE,
            "Ballé et al., ICLR 2018 (scale hyperprior)",
        ),
        Family(
            "mbt2018-mean",
            "MeanScaleHyperprior",
            _ladder((128, 192), (192, 320), 5),
            MEAN_SCALE,
            "Minnen et al., NeurIPS 2018 (mean-scale hyperprior)",
        ),
        Family(
            "mbt2018",
            "JointAutoregressiveHierarchicalPriors",
            _ladder((192, 192), (192, 320), 5),
            AUTOREGRESSIVE,
            "Minnen et al., NeurIPS 2018 (joint autoregressive and hierarchical priors)",
        ),
        Family(
            "cheng2020-anchor",
            "Cheng2020Anchor",
            _ladder((128, 128), (192, 192), 4, top=6),
            AUTOREGRESSIVE,
            "Cheng et al., CVPR 2020 (anchor)",
        ),
        Family(
            "cheng2020-attn",
            "Cheng2020Attention",
            _ladder((128, 128), (192, 192), 4, top=6),
            AUTOREGRESSIVE,
            "Cheng et al., CVPR 2020 (with attention)",
        ),
    )
}


def codec_id(family: str, metric: str) -> str:
    """``mbt2018-mean`` + ``ms-ssim`` -> ``mbt2018-mean-msssim``."""
    return f"{family}-{METRIC_SUFFIX[metric]}"


def _check_metric(metric: str) -> None:
    if metric not in METRIC_SUFFIX:
        raise ValueError(f"metric must be one of {sorted(METRIC_SUFFIX)}; got {metric!r}")


class ZooHyperprior(CompressAIHyperprior):
    """``bmshj2018-hyperprior-msssim`` / ``-mse``: the scale hyperprior under the zoo's
    name, with CompressAI's zoo weights by default (no demo weights)."""

    def __init__(self, metric: str) -> None:
        super().__init__(metric)
        self.family = FAMILIES["bmshj2018-hyperprior"]
        self.id = codec_id(self.family.name, metric)
        self.aliases = (self.family.name,) if metric == "ms-ssim" else ()
        self.description = (
            f"{self.family.paper}, CompressAI zoo, trained for {metric.upper()} (rANS); "
            "compressed domain y_hat + sigma_hat"
        )

    def default_weights(self, quality: int) -> str:
        return "pretrained"


class CompressAIZoo(Codec):
    """A CompressAI zoo family (other than the scale hyperprior) trained for one
    metric, with the ``compressai`` backend."""

    backend = "compressai"
    has_compressed_domain = True
    max_pixels = LEARNED_CODEC_MAX_PIXELS
    min_side = MULTIPLE  # a smaller image would code only padding

    def __init__(self, family: str, metric: str) -> None:
        _check_metric(metric)
        self.family = FAMILIES[family]
        if self.family.prior == SCALE:
            raise ValueError("bmshj2018-hyperprior is ZooHyperprior")
        self.metric = metric
        self.id = codec_id(family, metric)
        #: Other names ``--codec`` accepts: the bare zoo name for the MS-SSIM codec.
        self.aliases = (family,) if metric == "ms-ssim" else ()
        self.qualities = tuple(self.family.configs)
        self.description = (
            f"{self.family.paper}, CompressAI zoo, trained for {metric.upper()} (rANS); "
            f"compressed domain {' + '.join(self.family.latents)}"
        )

    def check_quality(self, quality: int) -> int:
        if quality not in self.qualities:
            known = f"{self.qualities[0]}-{self.qualities[-1]}"
            raise UsageError(
                f"Codec {self.key} has no quality {quality!r}; its qualities are {known} "
                f"(CompressAI's zoo has {self.family.name} at qualities {known} only)."
            )
        return quality

    def default_weights(self, quality: int) -> str:
        return "pretrained"

    def lmbda(self, quality: int) -> float:
        """CompressAI's rate-distortion lambda for this metric and quality."""
        return LAMBDAS[self.metric][self.check_quality(quality) - 1]

    def training_config(self, quality: int) -> tuple[int, int]:
        """CompressAI's (N, M) for ``quality`` (what ``codec train`` builds by default)."""
        return self.family.configs[self.check_quality(quality)]

    def network(self, n: int, m: int) -> Any:
        """A fresh network of this family with N = ``n``, M = ``m`` (cheng2020: M = N)."""
        from jpegai_eval.codecs.weights import import_compressai

        cls = getattr(import_compressai(), self.family.model)
        if self.family.name.startswith("cheng2020"):
            if n != m:
                raise UsageError(
                    f"{self.family.name} has M = N (one channel count); got N={n}, M={m}. "
                    "Give --N and --M the same value."
                )
            return cls(n)
        return cls(n, m)

    def config(self, quality: int, weights: str | None = None) -> tuple[int, int]:
        """(N, M) of the model that ``weights`` gives at ``quality``."""
        self.check_quality(quality)
        weights = weights or self.default_weights(quality)
        if weights == "pretrained":
            return self.family.configs[quality]
        net = self.build(self._read(quality, weights, None))
        return int(net.N), int(net.M)

    def latent_spec(self, quality: int, weights: str | None = None) -> LatentSpec:
        """M channels at stride 16: y_hat (and sigma_hat, mu_hat with a hyperprior)."""
        return self.family.latent_spec(self.config(quality, weights)[1])

    def remote_files(
        self,
        quality: int,
        weights: str | None = None,
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> list[RemoteFile]:
        """CompressAI's zoo checkpoint for ``quality`` when ``weights`` is ``pretrained``."""
        from jpegai_eval.codecs import weights as w

        self.check_quality(quality)
        if (weights or self.default_weights(quality)) != "pretrained":
            return []
        return [w.pretrained_file(self.id, quality, weights_dir, self.family.name)]

    def _read(self, quality: int, weights: str, weights_dir: str | os.PathLike[str] | None) -> Any:
        from jpegai_eval.codecs import weights as w

        if weights == "demo" and not w.demo_qualities(self.id):
            raise WeightsError(
                f"No demo weights for {self.id}: this installation ships demo weights for "
                f"{', '.join(w.shipped_demo_codecs())} only. Pass --weights pretrained for "
                f"CompressAI's zoo checkpoints, or train your own with `jpegai-eval codec "
                f"train --codec {self.id} --quality {quality} ...` and pass --weights FILE."
            )
        return w.load_weights(self.id, quality, weights, weights_dir, self.family.name)

    def build(self, loaded: Any) -> Any:
        """This family's network holding ``loaded`` (a :class:`~.weights.Weights`),
        rebuilt for its N and M by CompressAI's ``from_state_dict``, CDFs updated."""
        from jpegai_eval.codecs.weights import import_compressai

        cls = getattr(import_compressai(), self.family.model)
        try:
            net = cls.from_state_dict(dict(loaded.state_dict))
        except (RuntimeError, KeyError, ValueError, IndexError) as exc:
            first = str(exc).strip().splitlines()
            raise WeightsError(
                f"Weights file {loaded.source!r} is not a CompressAI {self.family.name} "
                f"network: {' '.join(first[:2])[:300]}. Give {self.family.name} weights "
                "(CompressAI's zoo checkpoint, a training checkpoint of that model, or "
                f"`jpegai-eval codec train --codec {self.id}` output)."
            ) from None
        net.eval()
        net.update(force=True)
        return net

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> ZooModel:
        from jpegai_eval.codecs.weights import weights_id

        self.check_quality(quality)
        weights = weights or self.default_weights(quality)
        loaded = self._read(quality, weights, weights_dir)
        net = self.build(loaded)
        return ZooModel(self, quality, net, weights_id(net), loaded.source, device)

    def from_network(self, quality: int, net: Any, device: str = "cpu") -> ZooModel:
        """Wrap an in-memory network of this family (tests, training); updates its CDFs."""
        from jpegai_eval.codecs.weights import weights_id

        net.eval()
        net.update(force=True)
        return ZooModel(self, quality, net, weights_id(net), "<in memory>", device)


class ZooModel(CompressAIModel):
    """One zoo network at one quality."""

    codec: CompressAIZoo

    def __init__(
        self,
        codec: CompressAIZoo,
        quality: int,
        net: Any,
        weights_id: bytes,
        source: str,
        device: str = "cpu",
    ) -> None:
        super().__init__(codec, quality, net, weights_id, source, device)
        self.prior = codec.family.prior
        self.latent_spec = codec.family.latent_spec(int(net.M))

    # -- CodecModel steps ----------------------------------------------------------
    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        import warnings

        import torch

        from jpegai_eval.framework.api.bitstream import pack_strings

        x = self.to_input(image)
        with torch.inference_mode(), warnings.catch_warnings():
            # the AR models warn that their entropy coding runs on the CPU
            warnings.filterwarnings("ignore", message=".*auto-regressive.*")
            out = self.net.compress(x)
        payload = pack_strings([strings[0] for strings in out["strings"]])
        return payload, self.latent_shape(*image.shape[:2])

    def strings(self, payload: bytes, header: Header) -> list[bytes]:
        """The strings of a checked payload: [y] (factorized) or [y, z]."""
        from jpegai_eval.framework.api.bitstream import unpack_strings

        expected = self.latent_shape(header.height, header.width)
        if tuple(header.latent_shape) != expected:
            raise BitstreamError(
                f"The .jai header gives latent shape {tuple(header.latent_shape)} but these "
                f"weights ({self.source}) produce {expected} for a {header.width}x"
                f"{header.height} image. Decode it with the weights that encoded it."
            )
        strings = unpack_strings(payload)
        want = 1 if self.prior == FACTORIZED else 2
        if len(strings) != want:
            raise BitstreamError(
                f"The .jai payload holds {len(strings)} strings; a {self.codec.family.name} "
                f"file holds {want}. Re-encode the image."
            )
        ph, pw = self.padded_size(header.height, header.width)
        y_count = int(self.net.M) * ph * pw // (STRIDE * STRIDE)
        if self.prior == FACTORIZED:
            coders = [("y", self.net.entropy_bottleneck, y_count)]
        else:
            z_count = self.net.entropy_bottleneck.channels * ph * pw // (MULTIPLE * MULTIPLE)
            coders = [
                ("y", self.net.gaussian_conditional, y_count),
                ("z", self.net.entropy_bottleneck, z_count),
            ]
        for (name, coder, count), string in zip(coders, strings, strict=True):
            need = min_string_bytes(coder, count)
            if len(string) < need:
                raise BitstreamError(
                    f"The .jai header gives a {header.width}x{header.height} image, but its "
                    f"{name} string ({len(string)} bytes) is too short to code the {count:,} "
                    f"symbols of that size (at least {need:,} bytes). The file is corrupt or "
                    "crafted; re-encode the image."
                )
        return strings

    def entropy_decode(self, strings: list[bytes], header: Header) -> dict[str, torch.Tensor]:
        """y_hat (1, M, H'/16, W'/16) of the padded image, and sigma_hat and mu_hat
        where the family's entropy model has them: CompressAI's ``decompress`` up to
        g_s (module docstring)."""
        ph, pw = self.padded_size(header.height, header.width)
        y_shape = (ph // STRIDE, pw // STRIDE)
        if self.prior == FACTORIZED:
            return {"y_hat": _decode_bottleneck(self.net.entropy_bottleneck, strings[0], y_shape)}
        z_shape = (ph // MULTIPLE, pw // MULTIPLE)
        z_hat = _decode_bottleneck(self.net.entropy_bottleneck, strings[1], z_shape)
        params = self.net.h_s(z_hat)
        if self.prior == MEAN_SCALE:
            scales_hat, means_hat = params.chunk(2, 1)
            y_hat = _decode_gaussian(self.net.gaussian_conditional, strings[0], scales_hat)
            return {"y_hat": y_hat.add_(means_hat), "sigma_hat": scales_hat, "mu_hat": means_hat}
        return self._decode_autoregressive(strings[0], params, y_shape)

    def _decode_autoregressive(
        self, string: bytes, params: torch.Tensor, y_shape: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        """CompressAI's ``_decompress_ar``, keeping each position's sigma_hat and mu_hat.

        The context model's weight is masked here (``weight * mask``, as
        ``_compress_ar`` does), so a network whose masked convolution never ran
        forward decodes what it encoded."""
        import torch
        import torch.nn.functional as F
        from compressai.ans import RansDecoder

        net = self.net
        gc = net.gaussian_conditional
        m = int(net.M)
        height, width = y_shape
        kernel, pad = 5, 2
        cdf = gc.quantized_cdf.tolist()
        cdf_lengths = gc.cdf_length.tolist()
        offsets = gc.offset.tolist()
        weight = net.context_prediction.weight * net.context_prediction.mask
        bias = net.context_prediction.bias
        y_hat = torch.zeros((1, m, height + 2 * pad, width + 2 * pad), device=params.device)
        scales = torch.zeros((1, m, height, width), device=params.device)
        means = torch.zeros_like(scales)
        decoder = RansDecoder()
        # A crafted string must not make the C++ decoder read past its end: every
        # symbol reads at most a few 32-bit words, and zeros end its bypass loops.
        decoder.set_stream(string + bytes(16 * m * height * width + 64))
        for h in range(height):
            for w in range(width):
                crop = y_hat[:, :, h : h + kernel, w : w + kernel]
                ctx_p = F.conv2d(crop, weight, bias=bias)
                p = params[:, :, h : h + 1, w : w + 1]
                scales_hat, means_hat = net.entropy_parameters(torch.cat((p, ctx_p), 1)).chunk(2, 1)
                indexes = gc.build_indexes(scales_hat)
                rv = decoder.decode_stream(indexes.reshape(-1).tolist(), cdf, cdf_lengths, offsets)
                rv = torch.tensor(rv, dtype=torch.float32, device=params.device)
                rv = gc.dequantize(rv.reshape(1, -1, 1, 1), means_hat)
                y_hat[:, :, h + pad : h + pad + 1, w + pad : w + pad + 1] = rv
                scales[:, :, h : h + 1, w : w + 1] = scales_hat
                means[:, :, h : h + 1, w : w + 1] = means_hat
        y_hat = y_hat[:, :, pad : pad + height, pad : pad + width]
        return {"y_hat": y_hat, "sigma_hat": scales, "mu_hat": means}

    def _decode_stages(
        self, payload: bytes, header: Header, *, image: bool, latents: bool
    ) -> Decoded:
        """One pass: the entropy decoding (shared), then g_s for the image and/or the
        crop of the latents; each stage timed."""
        import time

        import torch

        out = Decoded(header, only={"g_s": "image", "image": "image", "latents": "latents"})
        t0 = time.perf_counter()
        strings = self.strings(payload, header)
        with torch.inference_mode():
            tensors = self.entropy_decode(strings, header)
            t1 = time.perf_counter()
            out.times["entropy_decode"] = t1 - t0
            if image:
                x_hat = self.net.g_s(tensors["y_hat"]).clamp_(0, 1)
                t2 = time.perf_counter()
                out.times["g_s"] = t2 - t1
                out.image = to_uint8(x_hat[0, :, : header.height, : header.width])
                t1 = time.perf_counter()
                out.times["image"] = t1 - t2
            if latents:
                _, h, w = self.latent_shape(header.height, header.width)
                out.latents = {
                    name: tensors[name][0, :, :h, :w].float().cpu().numpy()
                    for name in self.latent_spec.names
                }
                out.times["latents"] = time.perf_counter() - t1
        return out

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        image = self._decode_stages(payload, header, image=True, latents=False).image
        assert image is not None
        return image

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, np.ndarray]:
        latents = self._decode_stages(payload, header, image=False, latents=True).latents
        assert latents is not None
        return latents


def _decode_bottleneck(eb: Any, string: bytes, shape: tuple[int, int]) -> torch.Tensor:
    """(1, C, h, w) from an entropy bottleneck's string: the values of CompressAI's
    ``entropy_bottleneck.decompress([string], shape)``, decoded by :mod:`.rans` (a
    malformed string is a BitstreamError, never a read past its end)."""
    import numpy as np
    import torch

    from jpegai_eval.codecs import rans

    tables = rans.Tables.of(eb)
    channels = tables.lengths.shape[0]
    indexes = np.broadcast_to(
        np.arange(channels, dtype=np.int32)[:, None, None], (channels, *shape)
    )
    symbols = decode_string("entropy-coded", string, indexes, tables, eb.entropy_coder)
    medians = eb._get_medians().detach().reshape(1, channels, 1, 1)
    return torch.from_numpy(symbols[None]).to(medians).add_(medians)


def _decode_gaussian(gc: Any, string: bytes, scales_hat: torch.Tensor) -> torch.Tensor:
    """The symbols (1, M, h, w, as floats) of a Gaussian conditional's string: CompressAI's
    ``gaussian_conditional.decompress([string], build_indexes(scales_hat))`` without
    the means."""
    import torch

    from jpegai_eval.codecs import rans

    tables = rans.Tables.of(gc)
    indexes = gc.build_indexes(scales_hat)[0].int().cpu().numpy()
    symbols = decode_string("entropy-coded", string, indexes, tables, gc.entropy_coder)
    return torch.from_numpy(symbols[None]).to(scales_hat.device, scales_hat.dtype)


def zoo_codecs() -> list[Codec]:
    """Every family of the zoo for both metrics (MS-SSIM first), for registration."""
    codecs: list[Codec] = []
    for family in FAMILIES.values():
        for metric in METRIC_SUFFIX:
            if family.prior == SCALE:
                codecs.append(ZooHyperprior(metric))
            else:
                codecs.append(CompressAIZoo(family.name, metric))
    return codecs
