"""MINC-2500 on disk: finding the root, validating the layout, listing the samples.

The layout is MINC-2500's own (Bell et al., CVPR 2015)::

    ROOT/images/<class>/<class>_NNNNNN.jpg
    ROOT/labels/{train,validate,test}{1..5}.txt    one path relative to ROOT a line
    ROOT/categories.txt                            optional; must list MINC's 23 classes

The root comes from ``--data-root`` or ``JPEGAI_EVAL_MINC_ROOT``; a missing root is an
error with the download URL, never a silent substitute. The demo dataset
(:mod:`jpegai_eval.tasks.demo`) has the same layout and goes through the same checks.

:func:`load_splits` validates one partition (train, validate and test together) before
any work starts: missing label files, malformed lines, unknown classes, missing image
files, duplicates within a split, images in two splits, and empty splits are collected
and reported in one :class:`~jpegai_eval.framework.errors.DatasetError` that gives the
count and the first offenders of each problem.

Corrupt images: the policy is **stop**. An image that exists but cannot be decoded
(or coded: too small or too large for the codec), found by the encode stage or later
while training or evaluating, stops the run with a DatasetError naming its path, so no
accuracy is ever computed on a silently reduced set. The policy is recorded with the
results (:data:`CORRUPT_IMAGE_POLICY`, and ``corrupt_image_policy`` in ``run.json``);
``jpegai-eval run --skip-bad-images`` is the one way to leave such images out, and
lists them (``skipped_images``). ``jpegai-eval task check minc --decode`` decodes every
image up front to find such files before a long run.

Paths: label files are UTF-8 (a byte-order mark is accepted); a line that is not, a
file name longer than the file system allows, or an image path that resolves outside
the root (a symlink) is reported with the other problems.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jpegai_eval.framework.api.types import Sample, TaskOption
from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.framework.io.remote import RemoteFile
from jpegai_eval.framework.settings import value as setting_value
from jpegai_eval.tasks.classes import (
    CORRUPT_IMAGE_POLICY,
    MINC_ARCHIVE,
    MINC_CLASSES,
    MINC_LAYOUT,
    MINC_SHA1,
    MINC_URL,
    MINC_URL_ENV,
    SPLIT_NUMBERS,
    SPLITS,
)
from jpegai_eval.tasks.classification import ClassificationTask

ROOT_ENV = "JPEGAI_EVAL_MINC_ROOT"

#: How many offenders an error message names per problem.
SHOW = 5


def resolve_root(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The MINC-2500 root from ``data_root`` or ``$JPEGAI_EVAL_MINC_ROOT``; it must exist."""
    source = "--data-root"
    if data_root is None or str(data_root) == "":
        env = setting_value(ROOT_ENV) or ""
        if not env:
            raise DatasetError(
                "No MINC-2500 dataset given: pass --data-root DIR or set "
                f"{ROOT_ENV}=DIR. Download it from {MINC_URL} and unpack it (`jpegai-eval "
                "fetch` with --data-root DIR and the run's other options does both); the "
                f"expected layout is {MINC_LAYOUT}. To try the tool without it, use "
                "--dataset demo (a synthetic dataset in the same layout)."
            )
        data_root, source = env, ROOT_ENV
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"MINC-2500 root {str(root)!r} (from {source}) is not a folder. Download the "
            f"dataset from {MINC_URL}, unpack it and point {source} at the folder that "
            f"holds images/ and labels/ (`jpegai-eval fetch` with the run's options does "
            f"it); the expected layout is {MINC_LAYOUT}."
        )
    if not (root / "labels").is_dir() and (root / "minc-2500" / "labels").is_dir():
        raise DatasetError(
            f"MINC-2500 root {str(root)!r} holds the unpacked archive's folder: point "
            f"{source} at {str(root / 'minc-2500')!r} instead."
        )
    return root


def minc_archive(data_root: str | os.PathLike[str] | None, split_number: int = 1) -> RemoteFile:
    """MINC-2500's archive as a :class:`RemoteFile`: downloaded into the data root,
    unpacked there (its ``minc-2500/`` folder stripped, so the root holds ``images/``
    and ``labels/``) and then validated by :func:`load_splits`."""
    from jpegai_eval.framework.io.remote import mirrored

    value = data_root if data_root not in (None, "") else (setting_value(ROOT_ENV) or "")
    if not value:
        raise DatasetError(
            "No MINC-2500 folder given: pass --data-root DIR (or set "
            f"{ROOT_ENV}=DIR) to say where MINC-2500 is to be unpacked and then read."
        )
    root = Path(value).expanduser()

    def installed() -> str | None:
        if not (root / "labels").is_dir():
            return f"not unpacked in {str(root)!r}"
        try:
            load_splits(resolve_root(root), split_number)
        except DatasetError as exc:
            return exc.message
        return None

    prefix = MINC_URL.rsplit("/", 1)[0]
    return RemoteFile(
        name=MINC_ARCHIVE,
        folder=root,
        url=mirrored(MINC_URL, MINC_URL_ENV, prefix),
        what="MINC-2500 dataset archive",
        sha1=MINC_SHA1,
        url_env=MINC_URL_ENV,
        unpack_into=root,
        installed=installed,
    )


def check_split_number(split_number: int) -> int:
    if split_number not in SPLIT_NUMBERS:
        raise UsageError(
            f"--split must be one of MINC-2500's partitions 1 to 5; got {split_number!r}."
        )
    return int(split_number)


@dataclass(frozen=True)
class Entry:
    """One label-file line: its image path relative to the root and its class index."""

    rel: str
    label: int


@dataclass
class MincSplits:
    """A validated partition: the entries of train, validate and test."""

    root: Path
    split_number: int
    entries: dict[str, list[Entry]]
    classes: tuple[str, ...] = MINC_CLASSES
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {split: len(items) for split, items in self.entries.items()}

    def describe(self) -> dict[str, object]:
        """What was used, for run records."""
        return {
            "root": str(self.root),
            "split_number": self.split_number,
            "counts": self.counts(),
            "classes": len(self.classes),
            "corrupt_image_policy": CORRUPT_IMAGE_POLICY,
        }


class _Problems:
    """Offenders grouped by problem, rendered into one error message."""

    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, problem: str, offender: str) -> None:
        self.items.setdefault(problem, []).append(offender)

    def __bool__(self) -> bool:
        return bool(self.items)

    def message(self, root: Path, split_number: int) -> str:
        parts = []
        for problem, offenders in self.items.items():
            shown = ", ".join(offenders[:SHOW])
            more = f" and {len(offenders) - SHOW} more" if len(offenders) > SHOW else ""
            parts.append(f"{len(offenders)} {problem} ({shown}{more})")
        return (
            f"MINC-2500 root {str(root)!r} (partition {split_number}) is malformed: "
            + "; ".join(parts)
            + f". The expected layout is {MINC_LAYOUT}. Fix or re-download the dataset "
            f"from {MINC_URL}, or regenerate a demo dataset with `jpegai-eval data demo DIR`."
        )


def _read_categories(root: Path) -> None:
    path = root / "categories.txt"
    if not path.is_file():
        return
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 4]
        raise DatasetError(
            f"{str(path)!r} is not UTF-8 text (byte {exc.start}: {bad!r}). Restore the file "
            f"from the archive at {MINC_URL}, or delete it (it is optional)."
        ) from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if names != MINC_CLASSES:
        extra = [n for n in names if n not in MINC_CLASSES]
        missing = [n for n in MINC_CLASSES if n not in names]
        raise DatasetError(
            f"{str(path)!r} does not list MINC-2500's 23 classes in their canonical order "
            f"(unknown: {extra[:SHOW]}, missing: {missing[:SHOW]}, first lines: "
            f"{list(names[:3])}). Restore the file from the archive at {MINC_URL}, or "
            "delete it (it is optional)."
        )


def load_splits(root: Path, split_number: int = 1, check_files: bool = True) -> MincSplits:
    """Read and validate partition ``split_number`` of the dataset at ``root``.

    Raises one DatasetError that lists every problem found (count and first offenders).
    ``check_files=False`` skips the per-image existence check (for a quick listing).
    """
    check_split_number(split_number)
    root = Path(root)
    _read_categories(root)
    label_files = {s: root / "labels" / f"{s}{split_number}.txt" for s in SPLITS}
    missing_labels = [str(p.relative_to(root)) for p in label_files.values() if not p.is_file()]
    if missing_labels:
        present = sorted(p.name for p in (root / "labels").glob("*.txt"))[:10]
        raise DatasetError(
            f"MINC-2500 root {str(root)!r} lacks {len(missing_labels)} label file(s) of "
            f"partition {split_number}: {', '.join(missing_labels)} (labels/ holds "
            f"{present or 'no .txt files'}). The expected layout is {MINC_LAYOUT}; "
            f"re-download the dataset from {MINC_URL} or pick another --split."
        )

    class_index = {name: i for i, name in enumerate(MINC_CLASSES)}
    real_root = root.resolve()
    problems = _Problems()
    entries: dict[str, list[Entry]] = {}
    owner: dict[str, str] = {}
    for split, path in label_files.items():
        where = f"labels/{path.name}"
        lines = []
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Windows editors)
            raw = raw[3:]
        for number, raw_line in enumerate(raw.splitlines(), 1):
            try:
                line = raw_line.decode("utf-8").strip()
            except UnicodeDecodeError:
                problems.add(
                    "label line(s) that are not UTF-8 (rename those images to UTF-8 names)",
                    f"{where} line {number}: {raw_line.strip()[:80]!r}",
                )
                continue
            if line:
                lines.append(line)
        items: list[Entry] = []
        for rel, n in Counter(lines).items():
            if n > 1:
                problems.add(f"duplicate line(s) in {where}", f"{rel} x{n}")
        seen: set[str] = set()
        for rel in lines:
            if rel in seen:
                continue
            seen.add(rel)
            parts = rel.split("/")
            if len(parts) != 3 or parts[0] != "images" or parts[2] in ("", ".", ".."):
                problems.add("malformed label line(s)", f"{where}: {_short(rel)!r}")
                continue
            if len(parts[2].encode()) > MAX_NAME_BYTES:
                problems.add(
                    f"file name(s) longer than {MAX_NAME_BYTES} bytes", f"{where}: {_short(rel)!r}"
                )
                continue
            if parts[1] not in class_index:
                problems.add("line(s) with an unknown class", f"{where}: {rel}")
                continue
            if rel in owner:
                problems.add("image(s) in two splits", f"{rel} in {owner[rel]} and {split}")
                continue
            owner[rel] = split
            if check_files:
                state = _file_state(root, real_root, rel)
                if state == "missing":
                    problems.add("missing image file(s)", rel)
                    continue
                if state == "outside":
                    problems.add(
                        "image path(s) that resolve outside the dataset root (symlinks)", rel
                    )
                    continue
            items.append(Entry(rel, class_index[parts[1]]))
        if not lines:
            problems.add("empty split(s)", where)
        entries[split] = items
    if problems:
        raise DatasetError(problems.message(root, split_number))
    return MincSplits(root=root, split_number=split_number, entries=entries)


#: Longest file name most file systems allow (NAME_MAX).
MAX_NAME_BYTES = 255


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _file_state(root: Path, real_root: Path, rel: str) -> str:
    """``ok``, ``missing`` or ``outside`` (a symlink resolving out of the root)."""
    path = root / rel
    try:
        if not path.is_file():
            return "missing"
        real = path.resolve()
    except OSError:
        return "missing"
    return "ok" if real.is_relative_to(real_root) else "outside"


def check_images(
    splits: MincSplits, progress: Callable[[int, int], None] | None = None
) -> list[str]:
    """Decode every image of ``splits``; return the paths (relative) that fail."""
    from PIL import Image

    from jpegai_eval.framework.io.image_io import no_bomb_warning

    bad: list[str] = []
    everything = [e for items in splits.entries.values() for e in items]
    for i, entry in enumerate(everything):
        try:
            with no_bomb_warning(), Image.open(splits.root / entry.rel) as img:
                img.load()
        except Exception:  # noqa: BLE001 - any decoder failure means a corrupt file
            bad.append(entry.rel)
        if progress is not None:
            progress(i + 1, len(everything))
    return bad


def corrupt_images_error(root: Path, bad: list[str]) -> DatasetError:
    shown = ", ".join(bad[:SHOW]) + (f" and {len(bad) - SHOW} more" if len(bad) > SHOW else "")
    return DatasetError(
        f"{len(bad)} image(s) under {str(root)!r} cannot be decoded: {shown}. Re-download "
        f"them from {MINC_URL}, or remove their lines from the label files."
    )


# ------------------------------------------------------------------------------ the task

DATASETS = ("minc", "demo")


class MincTask(ClassificationTask):
    """Material recognition on MINC-2500 (23 classes): the paper's task.

    Dataset options (``samples(split, **options)``, ``splits(**options)``):

    - ``dataset``: ``"minc"`` (the real data, default) or ``"demo"`` (the synthetic
      dataset, generated once into the cache folder);
    - ``data_root``: MINC-2500's root (else ``$JPEGAI_EVAL_MINC_ROOT``);
    - ``split_number``: partition 1..5 (default 1);
    - ``demo_per_class``, ``demo_size``, ``demo_seed``: the demo dataset's parameters.
    """

    id = "minc"
    description = "MINC-2500 material recognition (23 classes): ResNet-50 / cResNet-39"
    presets = ("paper", "quick", "smoke")
    options = (
        TaskOption(
            "data_root",
            type="path",
            help=f"MINC-2500 root (or set {ROOT_ENV}); with --dataset demo, a demo dataset.",
        ),
        TaskOption(
            "split_number",
            type=int,
            default=1,
            choices=SPLIT_NUMBERS,
            flag="--split",
            help="MINC-2500's partition (labels/{train,validate,test}N.txt).",
        ),
        TaskOption(
            "dataset",
            default="minc",
            choices=DATASETS,
            help="minc reads your MINC-2500 copy; demo the embedded synthetic dataset.",
        ),
    )

    def __init__(self) -> None:
        self._cache: dict[tuple[object, ...], MincSplits] = {}

    @property
    def classes(self) -> tuple[str, ...]:
        return MINC_CLASSES

    # -- data ------------------------------------------------------------------------
    def root(
        self,
        dataset: str = "minc",
        data_root: str | os.PathLike[str] | None = None,
        demo_per_class: int | None = None,
        demo_size: int | None = None,
        demo_seed: int | None = None,
    ) -> Path:
        """The dataset root: the user's MINC-2500, or the demo dataset in the cache."""
        if dataset == "minc":
            return resolve_root(data_root)
        if dataset == "demo":
            from jpegai_eval.tasks import demo

            if data_root:
                return Path(data_root)
            return demo.demo_dataset_root(
                demo.DEFAULT_PER_CLASS if demo_per_class is None else demo_per_class,
                demo.DEFAULT_SIZE if demo_size is None else demo_size,
                demo.DEFAULT_SEED if demo_seed is None else demo_seed,
            )
        raise UsageError(f"--dataset must be one of {', '.join(DATASETS)}; got {dataset!r}.")

    def splits(self, split_number: int = 1, **options: Any) -> MincSplits:
        """The validated partition (cached per root and partition)."""
        check_split_number(split_number)
        root = self.root(**options)
        key = (str(root.resolve()), split_number)
        if key not in self._cache:
            self._cache[key] = load_splits(root, split_number)
        return self._cache[key]

    def samples(self, split: str, **dataset_options: Any) -> list[Sample]:
        if split not in SPLITS:
            raise UsageError(f"Unknown split {split!r}; MINC-2500's splits are {SPLITS}.")
        parts = self.splits(**dataset_options)
        return [Sample(e.rel, parts.root / e.rel, e.label) for e in parts.entries[split]]

    def remote_files(
        self,
        dataset: str = "minc",
        data_root: str | os.PathLike[str] | None = None,
        split_number: int = 1,
        preset: str | None = None,
        imagenet_weights: str | None = None,
        **options: Any,
    ) -> list[RemoteFile]:
        """MINC-2500's archive (for ``dataset="minc"``) and the torchvision ImageNet
        weights the classifiers start from (the preset's default or
        ``imagenet_weights``: ``IMAGENET1K_V1`` / ``IMAGENET1K_V2``)."""
        files = [minc_archive(data_root, split_number)] if dataset == "minc" else []
        return files + super().remote_files(preset=preset, imagenet_weights=imagenet_weights)
