"""Any classification dataset in torchvision's ImageFolder layout::

    ROOT/train/<class>/<image>     the training split
    ROOT/test/<class>/<image>      the test split
    ROOT/val/<class>/<image>       optional; validated, not used by the study

Classes are the folder names, sorted (as ``torchvision.datasets.ImageFolder`` sorts
them: index = position); every split must have the same classes. Images are the files
with an image suffix (torchvision's ``IMG_EXTENSIONS``) anywhere under a class folder:
nested folders are read, as torchvision's ``ImageFolder`` reads them
(``train/cat/indoor/1.png`` is a ``cat``); hidden files and folders are skipped.

:func:`scan` validates the whole root before any work, as strictly as MINC-2500's
loader: a missing or empty root, a missing split, fewer than two classes, class sets
that differ between splits, empty classes, file names that are not valid UTF-8,
images (or folders) that are symlinks resolving outside the root, and the same image
(by content) in train/ and test/ -- which would score a memorised training image as
a test result; ``allow_duplicates`` (``--allow-duplicates``) accepts them -- are
collected into one :class:`~jpegai_eval.framework.errors.DatasetError` giving each
problem's count and first offenders. Images whose EXIF orientation tag turns them are
read turned, as a viewer shows them (:func:`~jpegai_eval.framework.io.image_io.read_image`);
the run notes it once (:meth:`ImageFolderTask.dataset_notes`). An image that exists
but cannot be decoded is the encode stage's to report.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jpegai_eval.framework.api.types import Sample, TaskOption
from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.framework.io.image_io import TURNING_ORIENTATIONS
from jpegai_eval.framework.run.plan import MIN_CLASSES
from jpegai_eval.tasks.classification import ClassificationTask

#: torchvision.datasets.folder.IMG_EXTENSIONS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "test")
OPTIONAL_SPLITS = ("val",)
LAYOUT = (
    "ROOT/train/<class>/<image> and ROOT/test/<class>/<image> (optional ROOT/val/<class>/; "
    "images may sit in folders below a class folder), the same class folders in every "
    "split, images with a suffix among " + " ".join(IMAGE_SUFFIXES)
)
#: How many offenders an error message names per problem.
SHOW = 5


@dataclass
class FolderSplits:
    """A validated ImageFolder root: its classes and, per split, (relative path, label)."""

    root: Path
    classes: tuple[str, ...]
    entries: dict[str, list[tuple[str, int]]]
    #: Images (relative paths) whose EXIF orientation turns them when read.
    oriented: list[str] = field(default_factory=list)

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


def _content_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _orientation(path: Path) -> int:
    """The EXIF orientation tag of the image at ``path`` (1 when absent or unreadable)."""
    from PIL import Image

    from jpegai_eval.framework.io.image_io import exif_orientation, no_bomb_warning

    try:
        with no_bomb_warning(), Image.open(path) as img:
            return exif_orientation(img)
    except Exception:  # noqa: BLE001 - an unreadable image is the encode stage's to report
        return 1


class _Walk:
    """The images under one class folder, nested folders included."""

    def __init__(self, root: Path, real_root: Path, add: Callable[[str, str], None]) -> None:
        self.root = root
        self.real_root = real_root
        self.add = add

    def inside(self, path: Path, rel: str) -> bool:
        try:
            real = path.resolve()
        except OSError:
            return False
        if real.is_relative_to(self.real_root):
            return True
        self.add("image path(s) that resolve outside the dataset root (symlinks)", rel)
        return False

    def images(self, rel_folder: str) -> list[str]:
        """Relative paths of the images under ``rel_folder``, sorted."""
        found: list[str] = []
        seen: set[Path] = set()
        pending = [rel_folder]
        while pending:
            rel_dir = pending.pop()
            folder = self.root / rel_dir
            real = folder.resolve()
            if real in seen:  # a symlink loop
                continue
            seen.add(real)
            for name in _listing(folder):
                rel = f"{rel_dir}/{name}"
                path = folder / name
                if not _is_utf8(name):
                    self.add("file name(s) that are not valid UTF-8", repr(rel))
                elif path.is_dir():
                    if self.inside(path, rel + "/"):
                        pending.append(rel)
                elif Path(name).suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                    if self.inside(path, rel):
                        found.append(rel)
        return sorted(found)


def scan(
    root: str | os.PathLike[str] | None, allow_duplicates: bool = False, check_exif: bool = True
) -> FolderSplits:
    """Find and validate the dataset at ``root``; raise one DatasetError listing every
    problem found (see the module docstring)."""
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

    walk = _Walk(root, root.resolve(), add)
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
        classes = [c for c in classes if _is_utf8(c) and walk.inside(folder / c, f"{split}/{c}/")]
        class_sets[split] = classes
        if not classes:
            add("split(s) without class folders", f"{split}/")
        files[split] = {}
        for cls in classes:
            images = walk.images(f"{split}/{cls}")
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
    if not problems and not allow_duplicates:
        _find_duplicates(root, files, add)
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
        split: [(rel, index[c]) for c in classes for rel in files[split][c]] for split in splits
    }
    oriented = []
    if check_exif:
        oriented = [
            rel
            for split in SPLITS
            for rel, _ in entries[split]
            if Path(rel).suffix.lower() in (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp")
            and _orientation(root / rel) in TURNING_ORIENTATIONS
        ]
    return FolderSplits(root, classes, entries, oriented)


def _find_duplicates(
    root: Path, files: dict[str, dict[str, list[str]]], add: Callable[[str, str], None]
) -> None:
    """Add a problem for each test image whose content is also a training image."""
    train: dict[str, str] = {}
    for images in files["train"].values():
        for rel in images:
            train.setdefault(_content_digest(root / rel), rel)
    for images in files["test"].values():
        for rel in images:
            twin = train.get(_content_digest(root / rel))
            if twin is not None:
                add(
                    "image(s) in both train/ and test/ (the same content: a memorised "
                    "training image would score as a test result; remove one copy, or pass "
                    "--allow-duplicates to keep them)",
                    f"{rel} = {twin}",
                )


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
        TaskOption(
            "allow_duplicates",
            type=bool,
            default=False,
            help="Accept images whose content is in both train/ and test/ (refused by "
            "default: a memorised training image would score as a test result).",
        ),
    )

    def __init__(self) -> None:
        self._scanned: dict[str, FolderSplits] = {}
        self._current: FolderSplits | None = None

    def splits(
        self, data_root: str | os.PathLike[str] | None = None, allow_duplicates: bool = False
    ) -> FolderSplits:
        """The validated dataset at ``data_root`` (scanned once per root and setting)."""
        path = str(Path(data_root).expanduser().resolve()) if data_root else ""
        key = f"{path}|{bool(allow_duplicates)}"
        if key not in self._scanned:
            self._scanned[key] = scan(data_root, allow_duplicates=bool(allow_duplicates))
        self._current = self._scanned[key]
        return self._current

    def dataset_notes(self, **dataset_options: Any) -> list[str]:
        """One line when images carry an EXIF orientation that turns them: they are read
        turned, as a viewer shows them (and as torchvision's ImageFolder does not)."""
        oriented = self.splits(**dataset_options).oriented
        if not oriented:
            return []
        shown = ", ".join(oriented[:SHOW]) + (
            f" and {len(oriented) - SHOW} more" if len(oriented) > SHOW else ""
        )
        return [
            f"{len(oriented)} image(s) of the ImageFolder dataset carry an EXIF orientation "
            f"({shown}): each is read turned as its tag says, as a photo viewer shows it"
        ]

    @property
    def classes(self) -> tuple[str, ...]:
        if self._current is None:
            raise UsageError(
                "Task imagefolder learns its classes from the dataset: list its samples "
                "(with --data-root) before asking for its classes."
            )
        return self._current.classes

    def samples(self, split: str, **dataset_options: Any) -> list[Sample]:
        known = (*SPLITS, *OPTIONAL_SPLITS)
        if split not in known:
            raise UsageError(f"Unknown split {split!r}; ImageFolder's splits are {known}.")
        parts = self.splits(**dataset_options)
        if split not in parts.entries:
            raise UsageError(f"ImageFolder root {str(parts.root)!r} has no {split}/ folder.")
        return [Sample(rel, parts.root / rel, label) for rel, label in parts.entries[split]]
