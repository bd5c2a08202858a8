"""The bmshj2018 scale hyperprior run from TensorFlow-Compression's published metagraphs.

Balle, Minnen, Singh, Hwang, Johnston: "Variational image compression with a scale
hyperprior", ICLR 2018 -- the ``bmshj2018-hyperprior-{msssim,mse}-[1-8]`` models that
``tfci`` compresses with, and that Deng & Karam use (HyperMS-SSIM-1/4/8)::

         sender                                          receiver
    x --g_a--> y --h_a--> z                 z_strings --> z_hat --h_s--> sigma_hat
               |          |-> z_strings ------------------------------------|
               |-> y_strings (coded with sigma_hat) ------> y_hat <----------+
                                                             |
                                                             +--g_s--> x_hat

``encode`` runs the metagraph's ``sender`` signature and stores its outputs (the
entropy-coded strings plus the shapes the receiver needs) as the ``.jai`` payload;
``decode`` feeds them to the ``receiver`` signature. ``latents`` feeds the same inputs
to the receiver graph pruned to y_hat and sigma_hat, so g_s is never executed. Which
tensors those are is discovered from the graph's name scopes
(:data:`jpegai_eval.codecs.tfc_metagraph.SCOPES`) or set with
``JPEGAI_EVAL_TFC_TENSORS``; ``jpegai-eval codec tensors --backend tfc`` lists them.

TensorFlow is imported only when a model is loaded.
"""

from __future__ import annotations

import struct
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.codecs.tfc_metagraph import Metagraph, find_metagraph
from jpegai_eval.framework.api.types import (
    LEARNED_CODEC_MAX_PIXELS,
    Codec,
    CodecModel,
    LatentSpec,
    digest,
)
from jpegai_eval.framework.errors import BitstreamError, UserError

if TYPE_CHECKING:
    import numpy as np

    from jpegai_eval.framework.api.bitstream import Header
    from jpegai_eval.framework.io.remote import RemoteFile

BACKEND = "tfc"
QUALITIES = (1, 2, 3, 4, 5, 6, 7, 8)
STRIDE = 16
METRICS = {"msssim": "MS-SSIM", "mse": "MSE"}
INSTALL_COMMAND = "pip install jpegai-eval[tf]"


def latent_channels(quality: int) -> int:
    """M of the published models, as in the paper: 192 for qualities 1-5, 320 for 6-8."""
    return 192 if quality <= 5 else 320


class TfcHyperprior(Codec):
    """``hyperprior-{metric}`` on the ``tfc`` backend: one codec per metric, 8 qualities.

    ``load(quality, weights, device, weights_dir)``: ``weights`` is None or
    ``"pretrained"`` (the metagraph cache folder: ``weights_dir``, else
    ``$JPEGAI_EVAL_TFC_DIR``, else ``~/.cache/jpegai-eval/tfc``), a folder
    holding ``bmshj2018-hyperprior-{metric}-{quality}.metagraph`` files (e.g. tfci's
    cache), or one ``.metagraph`` file. ``tensors`` fixes the y_hat / sigma_hat tensor
    names (``{"y_hat": "NAME:0"}``) instead of discovering them.
    """

    backend = BACKEND
    qualities = QUALITIES
    has_compressed_domain = True
    max_pixels = LEARNED_CODEC_MAX_PIXELS

    def __init__(
        self,
        metric: str = "msssim",
        unavailable_reason: str | None = None,
        tensors: dict[str, str] | None = None,
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, not {metric!r}")
        self.metric = metric
        self.id = f"hyperprior-{metric}"
        self.description = (
            f"Balle et al. 2018 scale hyperprior optimized for {METRICS[metric]}, "
            "TensorFlow-Compression's published tfci metagraphs; compressed domain "
            "y_hat + sigma_hat, where sigma_hat is the scale of the CDF row the integer "
            "hyper synthesis' index selects (TFC's table exp(linspace(log 0.11, log 256, "
            "64)) when the graph's CDF table encodes it, else the table's own row scales; "
            "`codec tensors` says which) and sigma_index that index"
        )
        self.unavailable_reason = unavailable_reason
        self.tensors = dict(tensors or {})
        self._loaded_specs: dict[object, LatentSpec] = {}

    def model_name(self, quality: int) -> str:
        """tfci's model name, e.g. ``bmshj2018-hyperprior-msssim-4``."""
        return f"bmshj2018-hyperprior-{self.metric}-{quality}"

    def latent_spec(self, quality: int, weights: str | None = None) -> LatentSpec:
        """The latent of the metagraph loaded for ``quality`` (and ``weights``, if given)
        in this process; before any is loaded, the published models' (M = 192 or 320)."""
        self.check_quality(quality)
        for key in ((quality, str(weights)), quality):
            if key in self._loaded_specs:
                return self._loaded_specs[key]
        m = latent_channels(quality)
        return LatentSpec(channels=m, stride=STRIDE, sigma_channels=m)

    def metagraph_path(
        self, quality: int, weights: str | None = None, weights_dir: str | None = None
    ) -> Path:
        """The metagraph file for ``quality`` and ``weights`` (downloaded if missing)."""
        self.check_quality(quality)
        return find_metagraph(self.model_name(quality), weights, weights_dir)

    def remote_files(
        self, quality: int, weights: str | None = None, weights_dir: str | None = None
    ) -> list[RemoteFile]:
        """The published metagraph for ``quality`` when ``weights`` names a folder
        (None, ``pretrained`` or a folder path), where :meth:`load` looks for it."""
        from jpegai_eval.codecs.tfc_metagraph import remote_metagraph

        self.check_quality(quality)
        file = remote_metagraph(self.model_name(quality), weights, weights_dir)
        return [file] if file is not None else []

    def open_metagraph(
        self, quality: int, weights: str | None = None, weights_dir: str | None = None
    ) -> Metagraph:
        self.check_available()
        path = self.metagraph_path(quality, weights, weights_dir)
        return Metagraph(path, self.model_name(quality), self.tensors)

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | None = None,
    ) -> CodecModel:
        graph = self.open_metagraph(quality, weights, weights_dir)
        model = TfcHyperpriorModel(self, quality, graph, device)
        self._loaded_specs[quality] = self._loaded_specs[(quality, str(weights))] = (
            model.latent_spec
        )
        return model


class TfcHyperpriorModel(CodecModel):
    """One metagraph: ``sender`` encodes, ``receiver`` decodes, its pruned part gives latents.

    Encode and decode run the signatures only; the compressed-domain tensors are found
    the first time ``latents`` (or ``latent_spec``'s channel count) needs them, and a
    graph where they cannot be found still encodes and decodes.
    """

    def __init__(self, codec: TfcHyperprior, quality: int, graph: Metagraph, device: str) -> None:
        super().__init__(codec, quality, weights_id=digest(graph.data))
        self.graph = graph
        self.device = "/GPU:0" if device.startswith("cuda") else "/CPU:0"

    @property
    def compressed(self) -> Any:
        """The receiver pruned to the compressed domain (discovers it on first use)."""
        return self.graph.compressed

    @cached_property
    def latent_spec(self) -> LatentSpec:  # type: ignore[override]
        """M from the compressed-domain tensors' static shapes when they can be found,
        else the published models' (192 / 320)."""
        fallback = latent_channels(self.quality)
        try:
            names = [
                self.graph.graph.get_tensor_by_name(n) for n in self.graph.latent_tensors.fetch
            ]
        except UserError:
            return LatentSpec(channels=fallback, stride=STRIDE, sigma_channels=fallback)
        channels = _channels(names[0]) or _channels(names[1]) or fallback
        return LatentSpec(
            channels=channels, stride=STRIDE, sigma_channels=_channels(names[1]) or channels
        )

    @property
    def sigma_mapping(self) -> str:
        """How sigma_hat is obtained from the graph (a WeightsError if it cannot be)."""
        return self.graph.latent_tensors.mapping

    def _encode_payload(self, image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
        import tensorflow as tf

        with tf.device(self.device):
            tensors = self.graph.sender(tf.constant(image[None]))
        payload = pack_tensors([t.numpy() for t in tensors])
        height, width = image.shape[:2]
        return payload, self.latent_spec.shape_for(height, width)

    def _receiver_inputs(self, payload: bytes, header: Header) -> list[Any]:
        import tensorflow as tf

        expected = self.latent_spec.shape_for(header.height, header.width)
        if tuple(header.latent_shape) != expected:
            raise BitstreamError(
                f"The .jai header gives latent shape {tuple(header.latent_shape)} but this "
                f"metagraph produces {expected} for a {header.width}x{header.height} image. "
                "Decode it with the metagraph that encoded it."
            )
        values = unpack_tensors(payload, [d.name for d in self.graph.receiver_input_dtypes])
        check_shapes(values, header)
        return [
            tf.constant(v, dtype=d)
            for v, d in zip(values, self.graph.receiver_input_dtypes, strict=True)
        ]

    def _decode_payload(self, payload: bytes, header: Header) -> np.ndarray:
        import numpy as np
        import tensorflow as tf

        with tf.device(self.device):
            (x_hat,) = self.graph.receiver(*self._receiver_inputs(payload, header))
        x_hat = x_hat.numpy()
        if x_hat.ndim == 4:
            x_hat = x_hat[0]
        if x_hat.dtype != np.uint8:
            x_hat = np.clip(np.round(x_hat), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(x_hat[: header.height, : header.width, :3])

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, np.ndarray]:
        import numpy as np
        import tensorflow as tf

        compressed = self.compressed  # a WeightsError naming JPEGAI_EVAL_TFC_TENSORS
        with tf.device(self.device):
            y_hat, sigma = compressed(*self._receiver_inputs(payload, header))
        y_hat = _chw(y_hat.numpy())
        sigma = _chw(sigma.numpy())
        # h_s may produce a map padded to a multiple of its stride; the receiver crops
        # it to y's size before decoding y, and so does this.
        sigma = sigma[:, : y_hat.shape[1], : y_hat.shape[2]]
        out = {"y_hat": np.ascontiguousarray(y_hat, dtype=np.float32)}
        if "sigma_index" in self.graph.latent_tensors.names:
            # An integer hyper synthesis: sigma is the index of a CDF row; sigma_hat is
            # that row's scale (see Metagraph.sigma_from_index and sigma_mapping).
            index = np.ascontiguousarray(sigma, dtype=np.int32)
            out["sigma_hat"] = np.ascontiguousarray(self.graph.sigma_from_index(index))
            out["sigma_index"] = index
        else:
            out["sigma_hat"] = np.ascontiguousarray(sigma, dtype=np.float32)
        return out


def _channels(tensor: Any) -> int | None:
    shape = tensor.shape
    if shape.rank != 4 or shape[-1] is None:
        return None
    return int(shape[-1])


def _chw(array: np.ndarray) -> np.ndarray:
    if array.ndim != 4 or array.shape[0] != 1:
        raise UserError(
            f"The TFC receiver graph gave a latent of shape {array.shape}; expected "
            "(1, h, w, C). Check the y_hat / sigma_hat tensor names with `jpegai-eval "
            "codec tensors --backend tfc` and set JPEGAI_EVAL_TFC_TENSORS."
        )
    return array[0].transpose(2, 0, 1)


# ----------------------------------------------------------------- payload packing
# The same information as tfc.PackedTensors (one rank-1 tensor per sender output, in
# the sorted order of the signature keys), without its protobuf and model name -- the
# .jai header already names the model. Strings go in as they are; numbers as big-endian
# int32 / float32.


def pack_tensors(values: list[Any]) -> bytes:
    """One ``.jai`` payload from the sender's outputs (rank-1 numpy arrays)."""
    from jpegai_eval.framework.api.bitstream import pack_strings

    parts: list[bytes] = []
    for value in values:
        if value.ndim != 1:
            raise ValueError(f"sender output of shape {value.shape}; tfci packs rank 1 only")
        if value.dtype.kind in "OSU":
            if len(value) != 1:
                raise ValueError(f"expected one string per sender output, got {len(value)}")
            item = value[0]
            parts.append(item if isinstance(item, bytes) else bytes(item))
        elif value.dtype.kind in "iu":
            parts.append(struct.pack(f">{len(value)}i", *(int(v) for v in value)))
        elif value.dtype.kind == "f":
            parts.append(struct.pack(f">{len(value)}f", *(float(v) for v in value)))
        else:
            raise ValueError(f"unexpected sender output dtype {value.dtype}")
    return pack_strings(parts)


def check_shapes(values: list[Any], header: Header) -> None:
    """Refuse shape tensors the header's (capped) image cannot have: the receiver
    allocates what they say, so each must lie in 1 .. max(height, width)."""
    import numpy as np

    limit = max(header.height, header.width)
    for value in values:
        if (
            value.dtype.kind in "iu"
            and value.size
            and not ((value >= 1).all() and (value <= limit).all())
        ):
            raise BitstreamError(
                f"The .jai payload gives the shape {np.asarray(value).tolist()}, which a "
                f"{header.width}x{header.height} image cannot have. The file is corrupt or "
                "crafted; re-encode the image."
            )


def unpack_tensors(payload: bytes, dtypes: list[str]) -> list[Any]:
    """The receiver's inputs from a payload, given their dtype names in signature order."""
    import numpy as np

    from jpegai_eval.framework.api.bitstream import unpack_strings

    parts = unpack_strings(payload)
    if len(parts) != len(dtypes):
        raise BitstreamError(
            f"The .jai payload holds {len(parts)} tensors but this TFC receiver takes "
            f"{len(dtypes)}. The file was not written by this model; re-encode the image."
        )
    values: list[Any] = []
    for part, dtype in zip(parts, dtypes, strict=True):
        if dtype == "string":
            values.append(np.array([part], dtype=object))
        elif len(part) % 4:
            raise BitstreamError(
                "The .jai payload is malformed: a shape tensor is not a whole number of "
                "4-byte values. Re-encode the image."
            )
        elif dtype.startswith(("int", "uint")):
            values.append(np.array(struct.unpack(f">{len(part) // 4}i", part), dtype=dtype))
        else:
            values.append(np.array(struct.unpack(f">{len(part) // 4}f", part), dtype=dtype))
    return values
