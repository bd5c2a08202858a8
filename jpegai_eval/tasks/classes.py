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
#: Replaces the folder of :data:`MINC_URL` (a mirror, a test server).
MINC_URL_ENV = "JPEGAI_EVAL_MINC_URL"
MINC_ARCHIVE = "minc-2500.tar.gz"
#: The archive's SHA-1 as recorded by PyTorch-Encoding's ``scripts/prepare_minc.py``
#: (zhanghang1989/PyTorch-Encoding). The dataset's authors publish no checksum and no
#: size; this project could not re-check it against the server.
MINC_SHA1 = "bcccbb3b1ab396ef540f024a5ba23eff54f7fe31"

MINC_LAYOUT = (
    "ROOT/images/<class>/<class>_NNNNNN.jpg and ROOT/labels/{train,validate,test}{1..5}.txt, "
    "each label line a path relative to ROOT such as images/brick/brick_001968.jpg "
    "(ROOT/categories.txt is optional)"
)

#: What happens to an image that exists but cannot be decoded (see :mod:`.minc`).
CORRUPT_IMAGE_POLICY = "stop"
