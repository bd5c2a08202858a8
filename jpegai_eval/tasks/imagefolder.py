"""Any classification dataset in torchvision's ImageFolder layout::

    ROOT/train/<class>/<image>     the training split
    ROOT/test/<class>/<image>      the test split
    ROOT/val/<class>/<image>       optional; validated, not used by the study

Classes are the folder names, sorted (as ``torchvision.datasets.ImageFolder`` sorts
them: index = position); every split must have the same classes. Images are the files
with an image suffix (torchvision's ``IMG_EXTENSIONS``); hidden files are skipped.

:func:`scan` validates the whole root before any work: a missing or empty root, a
missing split, fewer than two classes, class sets that differ between splits, empty
classes and file names that are not valid UTF-8 are collected into one
:class:`~jpegai_eval.framework.errors.DatasetError` giving each problem's count and
first offenders. An image that exists but cannot be decoded is the encode stage's to
report (it is skipped and listed in run.json).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.framework.plan import MIN_CLASSES
from jpegai_eval.framework.types import Sample, TaskOption
from jpegai_eval.tasks.classification import ClassificationTask

#: torchvision.datasets.folder.IMG_EXTENSIONS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "test")
OPTIONAL_SPLITS = ("val",)
LAYOUT = (
    "ROOT/train/<class>/<image> and ROOT/test/<class>/<image> (optional ROOT/val/<class>/), "
    "the same class folders in every split, images with a suffix among " + " ".join(IMAGE_SUFFIXES)
)
#: How many offenders an error message names per problem.
SHOW = 5


@dataclass
class FolderSplits:
    """A validated ImageFolder root: its classes and, per split, (relative path, label)."""

    root: Path
    classes: tuple[str, ...]
    entries: dict[str, list[tuple[str, int]]]

    def counts(self) -> dict[str, int]:
        return {split: len(items) for split, items in self.entries.items()}


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept as surrogates by os.listdir
        return False
    return True


def _listing(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def scan(root: str | os.PathLike[str] | None) -> FolderSplits:
    """Find and validate the dataset at ``root``; raise one DatasetError listing every
    problem found."""
    if root is None or str(root) == "":
        raise DatasetError(
            "No dataset given for task imagefolder: pass --data-root DIR, a folder in "
            f"torchvision's ImageFolder layout: {LAYOUT}."
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"ImageFolder root {str(root)!r} (from --data-root) is not a folder. Point "
            f"--data-root at the folder that holds train/ and test/; the layout is {LAYOUT}."
        )
    present = [n for n in _listing(root) if (root / n).is_dir()]
    missing = [s for s in SPLITS if s not in present]
    if missing:
        raise DatasetError(
            f"ImageFolder root {str(root)!r} has no {' and no '.join(s + '/' for s in missing)} "
            f"folder (it holds {present or 'no folders'}). The layout is {LAYOUT}; "
            "split a flat class folder into train/ and test/ first."
        )
    problems: dict[str, list[str]] = {}

    def add(problem: str, offender: str) -> None:
        problems.setdefault(problem, []).append(offender)

    splits = [*SPLITS, *(s for s in OPTIONAL_SPLITS if s in present)]
    class_sets: dict[str, list[str]] = {}
    files: dict[str, dict[str, list[str]]] = {}
    for split in splits:
        folder = root / split
        names = _listing(folder)
        classes = [n for n in names if (folder / n).is_dir()]
        for name in names:
            if not _is_utf8(name):
                add("file name(s) that are not valid UTF-8", f"{split}/{name!r}")
        classes = [c for c in classes if _is_utf8(c)]
        class_sets[split] = classes
        if not classes:
            add("split(s) without class folders", f"{split}/")
        files[split] = {}
        for cls in classes:
            images = []
            for name in _listing(folder / cls):
                if not _is_utf8(name):
                    add("file name(s) that are not valid UTF-8", f"{split}/{cls}/{name!r}")
                elif (
                    Path(name).suffix.lower() in IMAGE_SUFFIXES and (folder / cls / name).is_file()
                ):
                    images.append(name)
            if not images:
                add("empty class folder(s) (no image files)", f"{split}/{cls}/")
            files[split][cls] = images
    reference = class_sets["train"]
    if len(reference) == 1:
        add(
            f"class folder(s) in train/, fewer than the {MIN_CLASSES} a classifier needs "
            "(with one class every prediction is right and Top-1 reads 100%)",
            f"train/{reference[0]}/",
        )
    for split in splits[1:]:
        only_train = sorted(set(reference) - set(class_sets[split]))
        only_here = sorted(set(class_sets[split]) - set(reference))
        if only_train or only_here:
            add(
                "split(s) whose classes differ from train/",
                f"{split}/ lacks {only_train[:SHOW]} and adds {only_here[:SHOW]}",
            )
    if problems:
        parts = []
        for problem, offenders in problems.items():
            shown = ", ".join(offenders[:SHOW])
            more = f" and {len(offenders) - SHOW} more" if len(offenders) > SHOW else ""
            parts.append(f"{len(offenders)} {problem} ({shown}{more})")
        raise DatasetError(
            f"ImageFolder root {str(root)!r} is malformed: "
            + "; ".join(parts)
            + f". The layout is {LAYOUT}. Rename or remove the offending files and folders."
        )
    classes = tuple(sorted(reference))
    index = {c: i for i, c in enumerate(classes)}
    entries = {
        split: [(f"{split}/{c}/{name}", index[c]) for c in classes for name in files[split][c]]
        for split in splits
    }
    return FolderSplits(root, classes, entries)


class ImageFolderTask(ClassificationTask):
    """Image classification on any dataset in torchvision's ImageFolder layout, with
    the paper's classifiers (ResNet-50 on pixels, cResNet-39 on ŷ and σ̂).

    Its classes depend on the dataset, so :attr:`classes` is known once
    :meth:`samples` has read a root (the evaluator lists the samples first)."""

    id = "imagefolder"
    description = "Any ImageFolder dataset (ROOT/{train,test}/<class>/*): ResNet-50 / cResNet-39"
    options = (
        TaskOption(
            "data_root",
            type="path",
            help="Dataset root holding train/<class>/ and test/<class>/ (optional val/).",
        ),
    )

    def __init__(self) -> None:
        self._scanned: dict[str, FolderSplits] = {}
        self._current: FolderSplits | None = None

    def splits(self, data_root: str | os.PathLike[str] | None = None) -> FolderSplits:
        """The validated dataset at ``data_root`` (scanned once per root)."""
        key = str(Path(data_root).expanduser().resolve()) if data_root else ""
        if key not in self._scanned:
            self._scanned[key] = scan(data_root)
        self._current = self._scanned[key]
        return self._current

    @property
    def classes(self) -> tuple[str, ...]:
        if self._current is None:
            raise UsageError(
                "Task imagefolder learns its classes from the dataset: list its samples "
                "(with --data-root) before asking for its classes."
            )
        return self._current.classes

    def samples(self, split: str, **dataset_options: object) -> list[Sample]:
        known = (*SPLITS, *OPTIONAL_SPLITS)
        if split not in known:
            raise UsageError(f"Unknown split {split!r}; ImageFolder's splits are {known}.")
        parts = self.splits(**dataset_options)  # type: ignore[arg-type]
        if split not in parts.entries:
            raise UsageError(f"ImageFolder root {str(parts.root)!r} has no {split}/ folder.")
        return [Sample(rel, parts.root / rel, label) for rel, label in parts.entries[split]]
