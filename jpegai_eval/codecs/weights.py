"""Finding and loading CompressAI weights: ``demo``, ``pretrained`` or a local path.

``--weights`` takes one of:

``demo``
    The small checkpoints shipped in ``jpegai_eval/codecs/weights/demo/`` (trained by
    this project with ``jpegai-eval codec train``; see its ``MODEL_CARD.md``). Which
    qualities exist, and their N and M, is listed in ``manifest.json`` there, so asking
    needs no torch.
``pretrained``
    CompressAI's official checkpoints for the (architecture, metric, quality) -- the
    bmshj2018 hyperprior unless a codec names another zoo architecture --
    under the exact file names of CompressAI's zoo, looked up in ``--weights-dir`` (or
    ``$JPEGAI_EVAL_WEIGHTS_DIR``) or else torch hub's cache
    (``$TORCH_HOME/hub/checkpoints``), and downloaded there when online (or ahead of
    time by ``jpegai-eval fetch``; ``$JPEGAI_EVAL_COMPRESSAI_URL`` replaces the URL's
    folder). Offline (``JPEGAI_EVAL_OFFLINE=1``, ``--offline``) or when the download
    fails, the error names the file, the folder searched and the URL.
a path
    A checkpoint file (this project's format, a CompressAI training checkpoint with a
    ``state_dict`` key, or a bare state dict), or a folder holding one file per quality
    (``<codec>-q<Q>.pt``, ``q<Q>.pt`` or CompressAI's zoo file name).

Every file is read with ``torch.load(..., weights_only=True)``. The weights id written
into each bitstream is a digest of the loaded parameters, so a file is never decoded
with weights other than those that encoded it.
"""

from __future__ import annotations

import json
import os
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from jpegai_eval.framework.api.types import digest
from jpegai_eval.framework.errors import UserError, WeightsError, describe_load_error
from jpegai_eval.framework.io.download import OFFLINE_ENV, OfflineError, require_network
from jpegai_eval.framework.io.download import download as fetch_file
from jpegai_eval.framework.io.remote import RemoteFile, mirrored
from jpegai_eval.framework.settings import value as setting_value

if TYPE_CHECKING:
    import torch

#: The hyperprior-msssim demo weights; another codec's are in ``weights/demo-<codec id>/``.
DEMO_DIR = Path(__file__).resolve().parent / "weights" / "demo"
#: The codec whose demo weights live in :data:`DEMO_DIR` (the embedded default).
DEMO_CODEC = "hyperprior-msssim"
MANIFEST = "manifest.json"
WEIGHTS_DIR_ENV = "JPEGAI_EVAL_WEIGHTS_DIR"
CHECKPOINT_FORMAT = "jpegai-eval-codec-checkpoint"
ARCHITECTURE = "bmshj2018-hyperprior"
#: Buffers recomputed by ``model.update(force=True)``; not part of the weights id.
DERIVED_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")
DOWNLOAD_TIMEOUT_S = 30
#: Replaces :data:`COMPRESSAI_URL_PREFIX` in the zoo's URLs (a mirror, a test server).
COMPRESSAI_URL_ENV = "JPEGAI_EVAL_COMPRESSAI_URL"
COMPRESSAI_URL_PREFIX = "https://compressai.s3.amazonaws.com/models/v1"


@dataclass
class Weights:
    """A loaded state dict (float32, CompressAI key names) and where it came from."""

    state_dict: dict[str, torch.Tensor]
    source: str
    #: the checkpoint's own record (codec, quality, N, M, how it was trained), as read
    meta: Mapping[str, object] = field(default_factory=dict)

    @property
    def N(self) -> int:  # noqa: N802 - CompressAI's name
        return int(self.state_dict["g_a.0.weight"].shape[0])

    @property
    def M(self) -> int:  # noqa: N802
        return int(self.state_dict["g_a.6.weight"].shape[0])


def import_compressai() -> Any:
    """Import CompressAI with its import-time ``torch.jit.script`` deprecation warning
    silenced (it says nothing a user can act on); return ``compressai.models``."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        import compressai.models
        import compressai.zoo.image
    return compressai.models


# ----------------------------------------------------------------------- demo weights


class DemoWeights(TypedDict):
    """One quality's shipped demo checkpoint: its file, its N and M, and the weights id
    its bitstreams carry."""

    file: str
    N: int
    M: int
    weights_id: NotRequired[str]


class DemoManifest(TypedDict):
    """The demo weights' manifest: the codec they are for, and each quality's file."""

    codec: str
    qualities: dict[str, DemoWeights]


def demo_dir(codec_id: str = DEMO_CODEC) -> Path:
    """The folder of ``codec_id``'s shipped demo weights (whether or not it exists):
    :data:`DEMO_DIR` for the hyperprior, ``weights/demo-<codec id>/`` for another codec
    (``demo-mbt2018-mean-msssim``)."""
    return DEMO_DIR if codec_id == DEMO_CODEC else DEMO_DIR.with_name(f"demo-{codec_id}")


def demo_manifest(codec_id: str = DEMO_CODEC) -> DemoManifest:
    """``codec_id``'s demo weights manifest (``{"codec", "qualities": {"1": {"file",
    "N", "M"}, ...}}``); an empty one when the codec ships none."""
    path = demo_dir(codec_id) / MANIFEST
    if not path.is_file():
        return DemoManifest(codec="", qualities={})
    manifest = json.loads(path.read_text())
    if not isinstance(manifest, dict):
        return DemoManifest(codec="", qualities={})
    return cast(DemoManifest, manifest)  # the file this package ships, as written


def shipped_demo_codecs() -> list[str]:
    """The codecs this installation ships demo weights for."""
    found = [demo_manifest(DEMO_CODEC).get("codec", "")]
    for folder in sorted(DEMO_DIR.parent.glob("demo-*")):
        found.append(demo_manifest(folder.name[len("demo-") :]).get("codec", ""))
    return [c for c in found if c]


def is_demo_file(codec_id: str, quality: int, weights_id: bytes) -> bool:
    """Whether a file of ``codec_id`` at ``quality`` was encoded with the shipped demo
    weights (its header's weights id is the manifest's)."""
    entry = demo_manifest(codec_id).get("qualities", {}).get(str(quality))
    return entry is not None and entry.get("weights_id") == weights_id.hex()


def demo_qualities(codec_id: str) -> list[int]:
    """Qualities of ``codec_id`` that have shipped demo weights."""
    manifest = demo_manifest(codec_id)
    if manifest.get("codec") != codec_id:
        return []
    return sorted(int(q) for q in manifest.get("qualities", {}))


def demo_config(codec_id: str, quality: int) -> tuple[int, int] | None:
    """(N, M) of the demo weights for ``quality``, or None if there are none."""
    if quality not in demo_qualities(codec_id):
        return None
    entry = demo_manifest(codec_id)["qualities"][str(quality)]
    return int(entry["N"]), int(entry["M"])


def demo_path(codec_id: str, quality: int) -> Path:
    """The shipped checkpoint for ``quality``; a WeightsError if there is none."""
    have = demo_qualities(codec_id)
    if quality not in have:
        listing = (
            f"demo weights exist for qualities {', '.join(str(q) for q in have)} only"
            if have
            else f"this installation has no demo weights for {codec_id}"
        )
        raise WeightsError(
            f"No demo weights for {codec_id} at quality {quality}: {listing}. Use a "
            "quality that has them, pass --weights pretrained for "
            "CompressAI's official checkpoints, or train your own with `jpegai-eval codec "
            f"train --codec {codec_id} --quality {quality} ...` and pass --weights FILE."
        )
    return demo_dir(codec_id) / demo_manifest(codec_id)["qualities"][str(quality)]["file"]


# ----------------------------------------------------------------- pretrained weights


def zoo_metric(codec_id: str) -> str:
    return "ms-ssim" if codec_id.endswith("msssim") else "mse"


def pretrained_url(codec_id: str, quality: int, architecture: str = ARCHITECTURE) -> str:
    """CompressAI's zoo URL for ``architecture`` (the zoo's name, default the bmshj2018
    hyperprior) of this codec's metric at this quality."""
    import_compressai()
    from compressai.zoo.image import model_urls

    url: str = model_urls[architecture][zoo_metric(codec_id)][quality]
    return url


def pretrained_filename(codec_id: str, quality: int, architecture: str = ARCHITECTURE) -> str:
    """The zoo's file name, e.g. ``bmshj2018-hyperprior-ms-ssim-1-5cf249be.pth.tar``."""
    return pretrained_url(codec_id, quality, architecture).rsplit("/", 1)[1]


def pretrained_folder(weights_dir: str | os.PathLike[str] | None = None) -> Path:
    """``weights_dir``, else ``$JPEGAI_EVAL_WEIGHTS_DIR``, else torch hub's checkpoints."""
    if weights_dir:
        return Path(weights_dir)
    from_env = setting_value(WEIGHTS_DIR_ENV)
    if from_env:
        return Path(from_env)
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def pretrained_file(
    codec_id: str,
    quality: int,
    weights_dir: str | os.PathLike[str] | None = None,
    architecture: str = ARCHITECTURE,
) -> RemoteFile:
    """CompressAI's checkpoint as a :class:`RemoteFile`: the zoo's file name (its
    ``-<hex>`` part the start of its SHA-256), the folder it is looked for in, and its
    URL (the prefix replaced by ``$JPEGAI_EVAL_COMPRESSAI_URL`` when set)."""
    url = pretrained_url(codec_id, quality, architecture)
    return RemoteFile(
        name=pretrained_filename(codec_id, quality, architecture),
        folder=pretrained_folder(weights_dir),
        url=mirrored(url, COMPRESSAI_URL_ENV, COMPRESSAI_URL_PREFIX),
        what=f"CompressAI {architecture} ({zoo_metric(codec_id)}) quality {quality} weights",
        url_env=COMPRESSAI_URL_ENV,
    )


def pretrained_path(
    codec_id: str,
    quality: int,
    weights_dir: str | os.PathLike[str] | None = None,
    architecture: str = ARCHITECTURE,
) -> Path:
    """The local file of CompressAI's checkpoint, downloaded first if it is missing
    (never when offline: see :mod:`jpegai_eval.framework.io.download`)."""
    file = pretrained_file(codec_id, quality, weights_dir, architecture)
    url, name, folder, path = file.url, file.name, file.folder, file.path
    if path.is_file():
        return path
    try:
        require_network(file)
        download(url, path)
    except (OSError, urllib.error.URLError, ValueError, UserError) as exc:
        with_demo = codec_id if demo_qualities(codec_id) else DEMO_CODEC
        demo = demo_qualities(with_demo)
        alternative = (
            f"or use the shipped demo weights (--codec {with_demo} --weights demo, "
            f"qualities {', '.join(str(q) for q in demo)})"
            if demo
            else "or train weights with `jpegai-eval codec train`"
        )
        why = (
            f"the network is forbidden ({OFFLINE_ENV} or --offline)"
            if isinstance(exc, OfflineError)
            else f"downloading it failed ({exc})"
        )
        raise WeightsError(
            f"Pretrained weights for {codec_id} quality {quality} are not available: "
            f"file {name} is not in {str(folder)!r} and {why}. "
            f"Download {url} into that folder (`jpegai-eval fetch --codec {codec_id} "
            f"--weights pretrained ...` does it), or into a folder you pass with "
            f"--weights-dir, {alternative}."
        ) from None
    return path


def download(url: str, path: Path) -> None:
    """Download ``url`` to ``path`` (resumable, verified against the hash prefix in
    the name, renamed into place only when complete) with the framework's downloader."""
    fetch_file(RemoteFile(path.name, path.parent, url, "CompressAI checkpoint"))


# ---------------------------------------------------------------------- local weights


def folder_candidates(codec_id: str, quality: int, architecture: str = ARCHITECTURE) -> list[str]:
    """File names a weights folder is searched for, in order."""
    names = [f"{codec_id}-q{quality}.pt", f"q{quality}.pt"]
    try:
        names.append(pretrained_filename(codec_id, quality, architecture))
    except KeyError:
        pass
    return names


def local_path(codec_id: str, quality: int, weights: str, architecture: str = ARCHITECTURE) -> Path:
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        names = folder_candidates(codec_id, quality, architecture)
        for name in names:
            if (path / name).is_file():
                return path / name
        raise WeightsError(
            f"Weights folder {str(path)!r} has no checkpoint for {codec_id} at quality "
            f"{quality}: looked for {', '.join(names)}. Put one there, or pass the "
            "checkpoint file itself with --weights FILE."
        )
    raise WeightsError(
        f"--weights {weights!r} is neither 'demo', 'pretrained', nor an existing file or "
        "folder. Give one of those."
    )


def resolve_path(
    codec_id: str,
    quality: int,
    weights: str,
    weights_dir: str | os.PathLike[str] | None = None,
    architecture: str = ARCHITECTURE,
) -> Path:
    """The checkpoint file that ``weights`` names for this codec and quality."""
    if weights == "demo":
        return demo_path(codec_id, quality)
    if weights == "pretrained":
        return pretrained_path(codec_id, quality, weights_dir, architecture)
    return local_path(codec_id, quality, weights, architecture)


def load_weights(
    codec_id: str,
    quality: int,
    weights: str,
    weights_dir: str | os.PathLike[str] | None = None,
    architecture: str = ARCHITECTURE,
) -> Weights:
    """Resolve and read the checkpoint; refuse one made for another codec or quality
    (``architecture``: CompressAI's zoo name of the network the codec builds)."""
    path = resolve_path(codec_id, quality, weights, weights_dir, architecture)
    loaded = read_checkpoint(path, architecture)
    made_for = (loaded.meta.get("codec"), loaded.meta.get("quality"))
    if made_for[0] is not None and made_for[0] != codec_id:
        raise WeightsError(
            f"Checkpoint {str(path)!r} was trained for codec {made_for[0]}, not {codec_id}. "
            f"Use --codec {made_for[0]}, or give weights made for {codec_id}."
        )
    made_quality = made_for[1]
    if (
        made_quality is not None
        and (int(made_quality) if isinstance(made_quality, int | float | str) else None) != quality
    ):
        raise WeightsError(
            f"Checkpoint {str(path)!r} holds quality {made_for[1]} of {codec_id}, not "
            f"quality {quality}. Use --quality {made_for[1]}, or give the checkpoint for "
            f"quality {quality}."
        )
    return loaded


def read_checkpoint(
    path: str | os.PathLike[str], architecture: str | None = ARCHITECTURE
) -> Weights:
    """Read any supported checkpoint file into float32 CompressAI-named tensors. For
    the bmshj2018 hyperprior, the tensors it needs are checked here; other
    architectures are checked when the network is built from them; None reads a
    checkpoint of any architecture (``codec train --transfer``)."""
    import pickle

    import torch

    import_compressai()
    from compressai.zoo.pretrained import load_pretrained

    from jpegai_eval.framework.io.safeload import load_plain

    path = Path(path)
    try:
        obj = load_plain(path)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as exc:
        raise WeightsError(
            f"Cannot read weights file {str(path)!r}: it is not a PyTorch checkpoint of "
            f"plain tensors ({describe_load_error(exc)}). Give a checkpoint written by "
            "`jpegai-eval codec train` or one of CompressAI's zoo files."
        ) from None
    meta: dict[str, object] = {}
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        meta = dict(obj.get("meta", {}))
        state = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = obj["state_dict"]
    else:
        state = obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(
            f"Weights file {str(path)!r} holds no state dict of tensors. Give a checkpoint "
            "written by `jpegai-eval codec train` or one of CompressAI's zoo files."
        )
    state = load_pretrained(state)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    made_as = meta.get("architecture")
    if architecture is not None and made_as is not None and made_as != architecture:
        raise WeightsError(
            f"Weights file {str(path)!r} holds a CompressAI {made_as} network, not a "
            f"{architecture}. Give it to a {made_as} codec, or give {architecture} weights."
        )
    for key in ("g_a.0.weight", "g_a.6.weight", "h_s.4.weight"):
        if architecture != ARCHITECTURE:
            break
        if key not in state:
            raise WeightsError(
                f"Weights file {str(path)!r} is not a bmshj2018 scale hyperprior: it has "
                f"no {key!r} tensor. Give hyperprior weights (CompressAI's "
                "bmshj2018-hyperprior or `jpegai-eval codec train` output)."
            )
    return Weights(state, str(path), meta)


def build_model(weights: Weights) -> Any:
    """A ScaleHyperprior holding ``weights``, its CDFs updated for entropy coding."""
    ScaleHyperprior = import_compressai().ScaleHyperprior  # noqa: N806

    net = ScaleHyperprior(weights.N, weights.M)
    try:
        net.load_state_dict(dict(weights.state_dict))
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        raise WeightsError(
            f"Weights file {weights.source!r} does not fit a bmshj2018 scale hyperprior "
            f"with N={weights.N}, M={weights.M}: {' '.join(first[:2])}. Give hyperprior "
            "weights (CompressAI's bmshj2018-hyperprior or `jpegai-eval codec train` "
            "output)."
        ) from None
    net.eval()
    net.update(force=True)
    return net


def weights_id(net: Any) -> bytes:
    """A digest of the parameters (not the derived CDF tables) of ``net``."""
    import torch

    parts = []
    for name, tensor in sorted(net.state_dict().items()):
        if name.rsplit(".", 1)[-1] in DERIVED_BUFFERS:
            continue
        t = tensor.detach().cpu().contiguous()
        if t.is_floating_point():
            t = t.to(torch.float32)
        parts.append(name.encode() + b"\0" + t.numpy().tobytes())
    return digest(b"".join(parts))


def save_checkpoint(
    path: str | os.PathLike[str],
    net: Any,
    meta: Mapping[str, object],
    half: bool = False,
    extra: Mapping[str, object] | None = None,
    architecture: str = ARCHITECTURE,
) -> None:
    """Write ``net`` (a CompressAI ``architecture``, by the zoo's name) in this
    project's checkpoint format, atomically. ``half`` stores
    floating-point tensors as float16 (they load back as float32); the derived CDF
    tables are stored empty and rebuilt on load."""
    import torch

    from jpegai_eval.framework.io.image_io import atomic_output

    state = {}
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu().clone()
        leaf = name.rsplit(".", 1)[-1]
        if leaf in DERIVED_BUFFERS and leaf != "scale_table":
            # The CDF tables (the bulk of a small model's file) are rebuilt by
            # update(force=True) on load; store them empty.
            t = t.new_empty((0,))
        elif half and t.is_floating_point() and leaf not in DERIVED_BUFFERS:
            t = t.to(torch.float16)
        state[name] = t
    meta = dict(meta, N=int(net.N), M=int(net.M), architecture=architecture)
    obj = {"format": CHECKPOINT_FORMAT, "version": 1, "meta": meta, "state_dict": state}
    if extra:
        obj.update(extra)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)  # a handle, not a path: the archive name stays fixed
