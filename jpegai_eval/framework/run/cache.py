"""The encode cache: one entry per codec x quality x weights x image.

An entry is a folder-less group of files sharing a stem::

    <cache>/<codec>__<backend>/q<Q>-<weights id>/<image key>.jai    the bitstream
                                                  <image key>.png    the decoded image (lossless)
                                                  <image key>.npz    the latent tensors (if any)
                                                  <image key>.json   metrics; written last

The image key combines the sample id with a hash of the image file's bytes, and the
folder names the codec, backend, quality, a digest of the weights and a digest of the
codec's provenance (the distribution and version of the plugin that provides it, and
its latent layout; written out in the folder's ``provenance.txt``), so a changed codec,
plugin version, latent layout, quality, weights or image never reuses a stale entry.

Every file is written atomically (temporary file, then rename) and the ``.json`` is
written last, holding a digest of each data file: an entry without it, whose files do
not match it (truncated, replaced, garbage) or whose ``.json`` is not readable is
*damaged*; :meth:`CacheCell.check` says why, and the encode stage redoes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from jpegai_eval.framework.io.image_io import atomic_write_bytes


def file_digest(path: Path, size: int = 8) -> str:
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=size).hexdigest()


def bytes_digest(data: bytes, size: int = 8) -> str:
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def image_key(sample_id: str, content_digest: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", sample_id.rsplit(".", 1)[0]).strip("_")
    return f"{stem[-80:]}-{content_digest}"


class Provenance(TypedDict):
    """What, besides the weights, makes a codec's cache entries valid (see
    :func:`jpegai_eval.framework.run.encode_stage.codec_provenance`)."""

    codec: str
    image_reader: int
    distribution: str
    version: str
    #: the codec's latent layout (its LatentSpec's JSON, or a repr), None without one
    latent_layout: object


#: A cache entry's metrics file as read: per-image columns (JSON scalars), ``id`` and
#: ``digests`` (suffix -> digest of each data file). Metric columns are open-ended
#: (``--metrics``), so it stays a mapping, checked where a column is read.
EntryMeta = dict[str, object]


def provenance_digest(provenance: Provenance | None) -> str:
    """A short digest of a codec's provenance (plugin distribution and version, latent
    layout), for the cache folder's name; empty when none is given."""
    if not provenance:
        return ""
    return bytes_digest(json.dumps(provenance, sort_keys=True).encode(), 4)


#: The suffixes of an entry's data files, each digested into the ``.json``.
DATA_SUFFIXES = ("jai", "png", "npz")


@dataclass(frozen=True)
class CacheCell:
    """The folder of one codec x quality x weights x codec provenance."""

    root: Path
    #: The codec's provenance as JSON, written to ``provenance.txt`` with the first entry.
    provenance_json: str = ""

    @classmethod
    def for_codec(
        cls,
        cache_root: Path,
        codec_id: str,
        backend: str,
        quality: int,
        weights_id: str,
        provenance: Provenance | None = None,
    ) -> CacheCell:
        folder = f"{codec_id}__{backend}"
        name = f"q{quality}-{weights_id or 'none'}"
        tag = provenance_digest(provenance)
        text = json.dumps(provenance, indent=2, sort_keys=True) + "\n" if provenance else ""
        return cls(Path(cache_root) / folder / (f"{name}-{tag}" if tag else name), text)

    def paths(self, key: str) -> dict[str, Path]:
        return {s: self.root / f"{key}.{s}" for s in (*DATA_SUFFIXES, "json")}

    def check(self, key: str) -> tuple[EntryMeta | None, str | None]:
        """``(metrics, None)`` for a complete, intact entry; ``(None, None)`` for one
        never written; ``(None, why)`` for a damaged one (a file missing, truncated or
        changed since it was written, or an unreadable ``.json``)."""
        paths = self.paths(key)
        if not paths["json"].exists():  # never written, or interrupted before its .json
            return None, None
        try:
            meta = json.loads(paths["json"].read_text())
            if not isinstance(meta, dict):
                raise ValueError("not an object")
            digests = meta["digests"]
            if not isinstance(digests, dict):
                raise TypeError("digests is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return None, f"{paths['json'].name} is unreadable ({type(exc).__name__})"
        for suffix in DATA_SUFFIXES:
            wanted = digests.get(suffix)
            if wanted is None:
                continue
            try:
                if file_digest(paths[suffix]) != wanted:
                    return None, f"{paths[suffix].name} changed since it was written"
            except OSError:
                return None, f"{paths[suffix].name} is missing"
        if meta.get("has_latents") and "npz" not in digests:
            return None, f"{paths['json'].name} names no latents file"
        return meta, None

    def load(self, key: str) -> EntryMeta | None:
        """The entry's metrics if the entry is complete and intact, else None."""
        return self.check(key)[0]

    def store(
        self,
        key: str,
        bitstream: bytes,
        decoded_png: bytes,
        latents_npz: bytes | None,
        meta: Mapping[str, object],
    ) -> EntryMeta:
        """Write an entry: data files first, the metrics file (with each data file's
        digest) last, each atomically. Return the metrics as stored (what :meth:`load`
        will read back)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.provenance_json and not (self.root / "provenance.txt").is_file():
            atomic_write_bytes(self.root / "provenance.txt", self.provenance_json.encode())
        paths = self.paths(key)
        data = {"jai": bitstream, "png": decoded_png, "npz": latents_npz}
        digests = {}
        for suffix, blob in data.items():
            if blob is not None:
                atomic_write_bytes(paths[suffix], blob)
                digests[suffix] = bytes_digest(blob)
        stored = dict(
            meta, bytes=len(bitstream), has_latents=latents_npz is not None, digests=digests
        )
        atomic_write_bytes(paths["json"], json.dumps(stored, sort_keys=True).encode())
        return stored
