"""The encode cache: one entry per codec x quality x weights x image.

An entry is a folder-less group of files sharing a stem::

    <cache>/<codec>__<backend>/q<Q>-<weights id>/<image key>.jai    the bitstream
                                                  <image key>.png    the decoded image (lossless)
                                                  <image key>.npz    y_hat, sigma_hat (if any)
                                                  <image key>.json   metrics; written last

The image key combines the sample id with a hash of the image file's bytes, and the
folder names the codec, backend, quality and a digest of the weights, so a changed
codec, quality, weights or image never reuses a stale entry. Every file is written
atomically (temporary file, then rename) and the ``.json`` is written last: an entry
without it, or whose files do not match it, is treated as missing and redone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jpegai_eval.framework.image_io import atomic_write_bytes


def file_digest(path: Path, size: int = 8) -> str:
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=size).hexdigest()


def image_key(sample_id: str, content_digest: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", sample_id.rsplit(".", 1)[0]).strip("_")
    return f"{stem[-80:]}-{content_digest}"


@dataclass(frozen=True)
class CacheCell:
    """The folder of one codec x quality x weights."""

    root: Path

    @classmethod
    def for_codec(
        cls, cache_root: Path, codec_id: str, backend: str, quality: int, weights_id: str
    ) -> CacheCell:
        folder = f"{codec_id}__{backend}"
        return cls(Path(cache_root) / folder / f"q{quality}-{weights_id or 'none'}")

    def paths(self, key: str) -> dict[str, Path]:
        return {s: self.root / f"{key}.{s}" for s in ("jai", "png", "npz", "json")}

    def load(self, key: str) -> dict[str, Any] | None:
        """The entry's metrics if the entry is complete and consistent, else None."""
        paths = self.paths(key)
        try:
            meta = json.loads(paths["json"].read_text())
        except (OSError, ValueError):
            return None
        try:
            if paths["jai"].stat().st_size != meta["bytes"]:
                return None
            if not paths["png"].is_file():
                return None
            if meta.get("has_latents") and not paths["npz"].is_file():
                return None
        except (OSError, KeyError):
            return None
        return meta  # type: ignore[no-any-return]

    def store(
        self,
        key: str,
        bitstream: bytes,
        decoded_png: bytes,
        latents_npz: bytes | None,
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        """Write an entry: data files first, the metrics file last, each atomically.
        Return the metrics as stored (what :meth:`load` will read back)."""
        self.root.mkdir(parents=True, exist_ok=True)
        paths = self.paths(key)
        atomic_write_bytes(paths["jai"], bitstream)
        atomic_write_bytes(paths["png"], decoded_png)
        if latents_npz is not None:
            atomic_write_bytes(paths["npz"], latents_npz)
        meta = dict(meta, bytes=len(bitstream), has_latents=latents_npz is not None)
        atomic_write_bytes(paths["json"], json.dumps(meta, sort_keys=True).encode())
        return meta
