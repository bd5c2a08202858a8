"""Small, fast fixtures for tests of codecs and of anything that uses them.

``tiny_network`` is a randomly initialised ScaleHyperprior with a few channels: real
rANS bitstreams in milliseconds. ``write_tiny_checkpoint`` saves one in this project's
checkpoint format, so tests load it through the same code as real weights
(``--weights PATH``). ``tiny_zoo_network`` / ``write_tiny_zoo_checkpoint`` do the same
for any family of CompressAI's zoo (:mod:`.compressai_zoo`).
"""

from __future__ import annotations

import os
from typing import Any

from jpegai_eval.testing import synthetic_image

__all__ = [
    "synthetic_image",
    "tiny_network",
    "tiny_zoo_network",
    "write_tiny_checkpoint",
    "write_tiny_zoo_checkpoint",
]


def tiny_network(n: int = 8, m: int = 12, seed: int = 0, gain: float = 20.0) -> Any:
    """A randomly initialised ``ScaleHyperprior(n, m)``, CDFs updated, in eval mode.
    g_a's last layer is scaled by ``gain`` so that y_hat is not all zeros."""
    import torch

    from jpegai_eval.codecs.weights import import_compressai

    ScaleHyperprior = import_compressai().ScaleHyperprior  # noqa: N806

    torch.manual_seed(seed)
    net = ScaleHyperprior(n, m)
    with torch.no_grad():
        net.g_a[6].weight.mul_(gain)
    net.eval()
    net.update(force=True)
    return net


def write_tiny_checkpoint(
    path: str | os.PathLike[str],
    codec_id: str = "hyperprior-msssim",
    quality: int | None = 1,
    n: int = 8,
    m: int = 12,
    seed: int = 0,
    half: bool = False,
) -> Any:
    """Save a :func:`tiny_network` as a checkpoint at ``path``; return the network.
    ``quality=None`` leaves the quality out of the metadata (any quality accepts it)."""
    from jpegai_eval.codecs.weights import save_checkpoint

    net = tiny_network(n, m, seed)
    meta: dict[str, Any] = {"codec": codec_id}
    if quality is not None:
        meta["quality"] = quality
    save_checkpoint(path, net, meta, half=half)
    return net


def tiny_zoo_network(codec: Any, n: int = 8, m: int = 12, seed: int = 0, gain: float = 20.0) -> Any:
    """A randomly initialised network of ``codec``'s zoo family (N=n, M=m; cheng2020:
    M=N=n), CDFs updated, in eval mode. g_a's last convolution is scaled by ``gain``
    so that |y| > 0.5 (untrained, every y would round to the same y_hat)."""
    import torch

    torch.manual_seed(seed)
    net = codec.network(n, n if codec.family.name.startswith("cheng2020") else m)
    last = [mod for mod in net.g_a.modules() if isinstance(mod, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.mul_(gain)
    if hasattr(net, "context_prediction"):  # masked as training's forward leaves it
        net.context_prediction.weight.data *= net.context_prediction.mask
    net.eval()
    net.update(force=True)
    return net


def write_tiny_zoo_checkpoint(
    path: str | os.PathLike[str], codec: Any, n: int = 8, m: int = 12, seed: int = 0
) -> Any:
    """Save a :func:`tiny_zoo_network` as a checkpoint of ``codec`` (any quality) at
    ``path``; return the network."""
    from jpegai_eval.codecs.weights import save_checkpoint

    net = tiny_zoo_network(codec, n, m, seed)
    save_checkpoint(path, net, {"codec": codec.id}, architecture=codec.family.name)
    return net
