"""Small, fast fixtures for tests of codecs and of anything that uses them.

``tiny_network`` is a randomly initialised ScaleHyperprior with a few channels: real
rANS bitstreams in milliseconds. ``write_tiny_checkpoint`` saves one in this project's
checkpoint format, so tests load it through the same code as real weights
(``--weights PATH``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def synthetic_image(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, textured (H, W, 3) uint8 RGB image, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        fx, fy = rng.uniform(0.02, 0.2, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(fx * xx + fy * yy + phase)
        ramp = (xx / max(width - 1, 1)) * rng.uniform(-1, 1)
        channels.append(0.5 + 0.3 * wave + 0.2 * ramp)
    image = np.stack(channels, axis=2) + rng.normal(0, 0.03, size=(height, width, 3))
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


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
