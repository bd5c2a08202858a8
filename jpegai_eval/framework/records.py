"""The records that cross the run's stage boundaries (DESIGN.md, "Data flow").

Frozen dataclasses, built at the file edges (a cache entry's ``meta.json``) and read
by the stages after the one that made them:

- :class:`EncodedEntry` -- one image's cache entry after the encode stage (encoded now
  or reused): its cache key and what its ``meta.json`` records;
- :class:`EncodeFailure` -- an image that could not be read or coded, and why;
- :class:`Encoded` -- the encode stage's output for the whole run;
- :class:`Classified` -- the classify stage's: every cell's row and predictions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from jpegai_eval.framework.encode_stage import Cell
    from jpegai_eval.framework.types import Codec, Sample

#: A codec x quality (or target rate) of the run: (``codec.key``, quality index).
PointKey = tuple[str, int]


@dataclass(frozen=True)
class EncodedEntry:
    """One image's cache entry: its key in the cache cell and its ``meta.json`` (bpp,
    size, coding times, fidelity metrics, a ``--target-bpp`` search's choice, the data
    files' digests). ``reused``: read from the cache rather than encoded now."""

    sample_id: str
    key: str
    meta: Mapping[str, Any]
    reused: bool = False

    @classmethod
    def from_meta(cls, key: str, meta: Mapping[str, Any], *, reused: bool) -> EncodedEntry:
        return cls(str(meta.get("id", "")), key, dict(meta), reused)

    def value(self, column: str) -> Any:
        """The entry's value of a per-image column (``bpp``, ``psnr``, ...), or None."""
        return self.meta.get(column)

    def has(self, column: str) -> bool:
        return column in self.meta

    @property
    def has_latents(self) -> bool:
        return bool(self.meta.get("has_latents"))


@dataclass(frozen=True)
class EncodeFailure:
    """An image the encode stage could not use; ``error`` names the file and why."""

    sample_id: str
    error: str


#: What coding one image gives.
EncodeOutcome = EncodedEntry | EncodeFailure


@dataclass(frozen=True)
class Encoded:
    """The encode stage's output: the cache cells, per codec x quality each test and
    training image's :class:`EncodedEntry`, and the images that could not be used."""

    cells: Mapping[PointKey, Cell]
    entries: Mapping[PointKey, Mapping[str, EncodedEntry]]
    failed: Mapping[str, str]  # sample id -> why it could not be used
    #: how many entries this rank encoded now (not reused from the cache)
    encoded_now: int = 0

    def entry(self, codec: Codec, quality: int, sample: Sample) -> EncodedEntry | None:
        return self.entries.get((codec.key, quality), {}).get(sample.id)

    def entry_path(self, codec: Codec, quality: int, sample: Sample, suffix: str) -> Path:
        """Where the entry's ``suffix`` file (jai, png, npz, json) is in the cache."""
        cell = self.cells[(codec.key, quality)]
        return cell.cache.paths(self.entries[(codec.key, quality)][sample.id].key)[suffix]

    def without(self, failed: Mapping[str, str]) -> Encoded:
        """The same entries with more images marked as unusable."""
        return Encoded(self.cells, self.entries, {**self.failed, **failed}, self.encoded_now)


@dataclass(frozen=True)
class Classified:
    """The classify stage's output: a ``results.csv`` row per cell, per cell name the
    predicted class of each test image, the ONNX Runtime provider(s) that ran, and
    every rank's record for ``run.json``."""

    rows: list[dict[str, Any]]
    predictions: Mapping[str, Mapping[str, int]]
    provider: str
    ranks: list[dict[str, Any]]
