"""The records that cross the run's stage boundaries (DESIGN.md, "Data flow").

Frozen dataclasses, built at the file edges (a cache entry's ``meta.json``) and read
by the stages after the one that made them:

- :class:`Cell` -- one codec x quality, opened (weights loaded, cache folder named);
- :class:`EncodedEntry` -- one image's cache entry after the encode stage (encoded now
  or reused): its cache key and what its ``meta.json`` records;
- :class:`EncodeFailure` -- an image that could not be read or coded, and why;
- :class:`Encoded` -- the encode stage's output for the whole run;
- :class:`Classified` -- the classify stage's: every cell's row and predictions;
- :class:`ResultRow` -- one row of ``results.csv`` (its fields are the columns), and
  :class:`CellResult` -- a finished cell (``cells/<cell>.json``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from jpegai_eval.framework.io.json_types import Scalar, scalar_or_none

if TYPE_CHECKING:
    from pathlib import Path

    from jpegai_eval.framework.api.types import Codec, Sample
    from jpegai_eval.framework.run.cache import CacheCell
    from jpegai_eval.framework.run.run_json import RankRecord

#: A codec x quality (or target rate) of the run: (``codec.key``, quality index).
PointKey = tuple[str, int]


@dataclass(frozen=True)
class EncodedEntry:
    """One image's cache entry: its key in the cache cell and its ``meta.json`` (bpp,
    size, coding times, fidelity metrics, a ``--target-bpp`` search's choice, the data
    files' digests). ``reused``: read from the cache rather than encoded now."""

    sample_id: str
    key: str
    #: the ``meta.json`` as read: per-image columns (scalars) and the ``digests`` object
    meta: Mapping[str, object]
    reused: bool = False

    @classmethod
    def from_meta(cls, key: str, meta: Mapping[str, object], *, reused: bool) -> EncodedEntry:
        return cls(str(meta.get("id", "")), key, dict(meta), reused)

    def value(self, column: str) -> Scalar:
        """The entry's value of a per-image column (``bpp``, ``psnr``, ...), or None."""
        return scalar_or_none(self.meta.get(column))

    def number(self, column: str) -> float | None:
        """A numeric column's value as a float, or None when absent or not a number."""
        value = self.value(column)
        return None if value is None or isinstance(value, str) else float(value)

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


@dataclass(frozen=True)
class Cell:
    """One codec x quality (or target rate) of the run, opened before any work: where
    its cache entries live and the weights it uses."""

    codec: Codec
    quality: int
    weights: str | None
    weights_id: str
    cache: CacheCell
    latent_spec: Any = None
    weights_dir: str | None = None
    #: Where its model computes (a CompressAI model on the GPU encodes in batches).
    device: str = "cpu"


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

    rows: list[ResultRow]
    predictions: Mapping[str, Mapping[str, int]]
    provider: str
    ranks: list[RankRecord]


@dataclass(frozen=True)
class ResultRow:
    """One row of ``results.csv``: a cell's rate, fidelity, accuracy and costs. The
    fields, in order, are the file's columns (:func:`result_columns`; the 95 % Wilson
    intervals of Top-1 and Top-5 follow ``top5``), then the ``extra`` columns sorted
    (the ``--metrics`` means). The originals' row (anchor 3) has codec ``original``
    and no quality. ``cells/<cell>.json`` stores it as JSON (:meth:`to_json`)."""

    codec: str
    backend: str
    quality: int | None
    anchor: str = ""
    domain: str = ""
    bpp: float | None = None
    target_bpp: float | None = None
    bpp_within_10pct: float | None = None
    psnr: float | None = None
    ms_ssim: float | None = None
    ssim: float | None = None
    top1: float | None = None
    top5: float | None = None
    n_test: int | None = None
    classifier: str | None = None
    params: int | None = None
    macs: float | None = None
    provider: str | None = None
    infer_ms_per_image: float | None = None
    encode_ms_per_image: float | None = None
    latents_ms_per_image: float | None = None
    decode_ms_per_image: float | None = None
    onnx_max_abs_diff: float | None = None
    init: str | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ResultRow:
        """A row from its JSON object (a cell file, or the columns a stage computed);
        columns this version does not name go to ``extra``, the intervals are
        recomputed. ValueError when a column's value is not a JSON scalar."""
        names = {f.name for f in fields(cls)} - {"extra"}
        odd = [k for k, v in data.items() if isinstance(v, Mapping | list | tuple)]
        if odd:
            raise ValueError(f"column {odd[0]!r} of the row is not a number or a string")
        values = cast("Mapping[str, Scalar]", data)
        known = {k: v for k, v in values.items() if k in names}
        extra = {k: v for k, v in values.items() if k not in names and k not in INTERVAL_COLUMNS}
        # each field's own type is the column's: what a cell file holds, as written
        return cls(**cast("Any", known), extra=extra)

    def to_json(self) -> dict[str, Scalar]:
        """The row as a JSON object: every column except the intervals."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**out, **self.extra}

    @property
    def has_quality(self) -> bool:
        """False for the originals' row (also when read back from a CSV as NaN)."""
        return self.quality is not None and not (
            isinstance(self.quality, float) and math.isnan(self.quality)
        )

    @property
    def point(self) -> tuple[str, str, int] | None:
        """(codec, backend, quality) of a codec row; None for the originals'."""
        if self.quality is None or not self.has_quality:
            return None
        return (self.codec, self.backend, int(self.quality))

    def value(self, column: str) -> Scalar:
        """A column's value by name (a field or an ``extra`` column), or None."""
        if column in self.extra:
            return self.extra[column]
        return scalar_or_none(getattr(self, column, None)) if column != "extra" else None


#: The Wilson-interval columns :func:`jpegai_eval.framework.run.results.with_intervals`
#: adds after ``top5``.
INTERVAL_COLUMNS = ("top1_ci95_low", "top1_ci95_high", "top5_ci95_low", "top5_ci95_high")


def result_columns() -> list[str]:
    """The columns of ``results.csv`` (before the sorted ``extra`` columns), defined
    once by :class:`ResultRow`."""
    names = [f.name for f in fields(ResultRow) if f.name != "extra"]
    at = names.index("top5") + 1
    return [*names[:at], *INTERVAL_COLUMNS, *names[at:]]


@dataclass(frozen=True)
class Key:
    """What a classifier (its ``key.json``) or a cell (the ``key`` of its
    ``cells/<cell>.json``) was computed from: a digest of its settings (a classifier)
    or of its classifier's key (a cell), a digest of its data, and the data's size. A
    rerun compares the stored key with the one it computes and redoes the step when they
    differ (:func:`jpegai_eval.framework.run.freshness.stale_reason` says why)."""

    data: str
    n: int
    #: a classifier's settings (task, domain, training data, preset, seed, start)
    config: str | None = None
    #: a cell's classifier, by its key
    classifier: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Key | None:
        """The key a file's JSON holds; None when it holds none (an older run folder)."""
        if not isinstance(data, Mapping) or "data" not in data:
            return None
        return cls(
            str(data["data"]),
            int(data.get("n") or 0),
            data.get("config"),
            data.get("classifier"),
        )

    def to_json(self) -> KeyJson:
        out = KeyJson(data=self.data, n=self.n)
        if self.classifier is not None:
            out["classifier"] = self.classifier
        if self.config is not None:
            out["config"] = self.config
        return out


class KeyJson(TypedDict):
    """:class:`Key` as its JSON object (keys sorted when written)."""

    data: str
    n: int
    classifier: NotRequired[str]
    config: NotRequired[str]


class CellJson(TypedDict):
    """``cells/<cell>.json``: :class:`CellResult` as written."""

    row: dict[str, Scalar]
    predictions: dict[str, int]
    key: NotRequired[KeyJson]


@dataclass(frozen=True)
class CellResult:
    """A finished cell as ``cells/<cell>.json`` holds it: its row, each test image's
    predicted class index, and the key it was computed from (what the run compares to
    decide whether it is still fresh)."""

    row: ResultRow
    predictions: Mapping[str, int]
    key: Key | None = None

    @classmethod
    def from_json(cls, data: Any) -> CellResult:
        """The record of a cell file's JSON; ValueError saying what is wrong."""
        if (
            not isinstance(data, Mapping)
            or not isinstance(data.get("row"), Mapping)
            or not isinstance(data.get("predictions"), Mapping)
        ):
            raise ValueError('no "row" and "predictions" of a finished cell')
        row = data["row"]
        if "provider" not in row or "top1" not in row:
            raise ValueError("its row has no accuracy")
        return cls(
            ResultRow.from_json(row), dict(data["predictions"]), Key.from_json(data.get("key"))
        )

    @classmethod
    def read(cls, path: Path) -> CellResult:
        """The record of the cell file at ``path``; OSError when it cannot be read,
        ValueError when it is not a finished cell's JSON."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def to_json(self) -> CellJson:
        out = CellJson(row=self.row.to_json(), predictions=dict(self.predictions))
        if self.key is not None:
            out["key"] = self.key.to_json()
        return out
