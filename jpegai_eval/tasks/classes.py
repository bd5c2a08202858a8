"""MINC-2500's classes and split layout, shared by the loader and the demo generator."""

from __future__ import annotations

#: The 23 MINC-2500 classes in the order of its ``categories.txt`` (index = label).
MINC_CLASSES: tuple[str, ...] = (
    "brick",
    "carpet",
    "ceramic",
    "fabric",
    "foliage",
    "food",
    "glass",
    "hair",
    "leather",
    "metal",
    "mirror",
    "other",
    "painted",
    "paper",
    "plastic",
    "polishedstone",
    "skin",
    "sky",
    "stone",
    "tile",
    "wallpaper",
    "water",
    "wood",
)

#: Split names as they appear in MINC-2500's label file names (``train1.txt`` ...).
SPLITS: tuple[str, ...] = ("train", "validate", "test")

#: MINC-2500 ships five train/validate/test partitions, numbered 1..5.
SPLIT_NUMBERS: tuple[int, ...] = (1, 2, 3, 4, 5)

MINC_URL = "http://opensurfaces.cs.cornell.edu/static/minc/minc-2500.tar.gz"

MINC_LAYOUT = (
    "ROOT/images/<class>/<class>_NNNNNN.jpg and ROOT/labels/{train,validate,test}{1..5}.txt, "
    "each label line a path relative to ROOT such as images/brick/brick_001968.jpg "
    "(ROOT/categories.txt is optional)"
)

#: What happens to an image that exists but cannot be decoded (see :mod:`.minc`).
CORRUPT_IMAGE_POLICY = "stop"
