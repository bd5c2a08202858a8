"""Decode once: a training's images decoded and resized one time into a uint8
memory-mapped array, so that every epoch only crops, flips and colour-augments.

Pixel-domain training resizes each image to the preset's ``pixel_resize`` (bilinear)
before its random crop; that resize draws no random number and yields uint8, so doing
it once and feeding the stored image to the same transforms gives the same batches bit
for bit (Pillow's resize to an image's own size is a copy). :func:`decode_once` writes
``decoded-<size>.u8`` (N x size x size x 3) and its record ``decoded-<size>.json`` in
the classifier's folder, and returns the items with sources that read one row each.

The array is keyed like the run's cache entries: on the content it was computed from
(each source's path, byte size and modification time, the size and the resampling).
A record that does not match, or an array of the wrong length (a killed write), is
rebuilt; the array is written under a temporary name and renamed, the record last.
The training deletes both when it finishes (:func:`remove`). Sources that are
callables (not files) cannot be keyed: those items are returned unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jpegai_eval.framework.io.image_io import atomic_write_bytes, temp_path

#: How the training reads an image, and resizes it (module-level functions: picklable).
Loader = Callable[[Any], np.ndarray]
Resizer = Callable[[np.ndarray, int], Any]

#: Bump when the stored content changes meaning.
FORMAT = 1
RESAMPLING = "PIL bilinear"


@dataclass(frozen=True)
class DecodedRow:
    """A picklable source: row ``index`` of the array at ``path`` (opened once per
    process, read-only)."""

    path: str
    index: int
    count: int
    size: int

    def __call__(self) -> np.ndarray:
        return np.array(_open(self.path, self.count, self.size)[self.index])


_opened: dict[str, np.memmap] = {}


def _open(path: str, count: int, size: int) -> np.memmap:
    if path not in _opened:
        _opened[path] = np.memmap(path, np.uint8, "r", shape=(count, size, size, 3))
    return _opened[path]


def paths(folder: Path, size: int) -> tuple[Path, Path]:
    return folder / f"decoded-{size}.u8", folder / f"decoded-{size}.json"


def key(sources: Sequence[Any], size: int) -> str | None:
    """The content key of ``sources`` resized to ``size``; None if one is not a file."""
    h = hashlib.sha256(json.dumps([FORMAT, RESAMPLING, size]).encode())
    for source in sources:
        if callable(source):
            return None
        st = os.stat(source)
        h.update(f"{os.fspath(source)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class _Resized:
    """Dataset of the resized images, for a DataLoader's workers to decode in parallel."""

    def __init__(self, sources: Sequence[Any], size: int, load: Loader, resize: Resizer) -> None:
        self.sources = list(sources)
        self.size = size
        self.load = load
        self.resize = resize

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> np.ndarray:
        return np.array(self.resize(self.load(self.sources[index]), self.size), np.uint8)


def decode_once(
    items: Sequence[tuple[Any, int]],
    size: int,
    folder: Path,
    load: Loader,
    resize: Resizer,
    workers: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[tuple[Any, int]]:
    """``items`` with each image source replaced by its row of the decoded array in
    ``folder`` (built with ``resize(load(source), size)``, or reused when its record
    matches). Unchanged when a source is not a file or the disk lacks room."""
    import torch

    sources = [source for source, _ in items]
    digest = key(sources, size)
    if digest is None:
        return list(items)
    array, record = paths(folder, size)
    count = len(items)
    nbytes = count * size * size * 3
    expected = {"format": FORMAT, "key": digest, "count": count, "size": size}
    previous = None
    if record.is_file():
        try:
            previous = json.loads(record.read_text())
        except (OSError, ValueError):
            previous = None
    fresh = previous == expected and array.is_file() and array.stat().st_size == nbytes
    if not fresh:
        _opened.pop(str(array), None)
        record.unlink(missing_ok=True)
        array.unlink(missing_ok=True)
        free = shutil.disk_usage(folder).free
        if free < nbytes * 1.1 + 2**28:
            if log:
                log(
                    f"decode once: skipped ({nbytes / 2**30:.1f} GiB needed in {folder}, "
                    f"{free / 2**30:.1f} GiB free): images are decoded every epoch"
                )
            return list(items)
        tmp = temp_path(array)
        try:
            out = np.memmap(tmp, np.uint8, "w+", shape=(count, size, size, 3))
            loader = torch.utils.data.DataLoader(
                _Resized(sources, size, load, resize),  # type: ignore[arg-type]
                batch_size=None,
                num_workers=workers,
            )
            for index, image in enumerate(loader):
                out[index] = np.asarray(image)
            out.flush()
            del out
            os.replace(tmp, array)
        finally:
            tmp.unlink(missing_ok=True)
        atomic_write_bytes(record, json.dumps(expected, indent=2).encode())
        if log:
            log(f"decode once: {count} images resized to {size} px in {array.name}")
    return [(DecodedRow(str(array), i, count, size), label) for i, (_, label) in enumerate(items)]


def remove(folder: Path) -> None:
    """Delete the decoded arrays of a finished training."""
    for path in folder.glob("decoded-*.u8"):
        _opened.pop(str(path), None)
        path.unlink(missing_ok=True)
    for path in folder.glob("decoded-*.json"):
        path.unlink(missing_ok=True)
