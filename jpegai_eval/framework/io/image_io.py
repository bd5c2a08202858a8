"""Reading and writing image files as (H, W, 3) uint8 RGB arrays, and atomic writes.

Every codec takes and returns 8-bit RGB. :func:`read_image` converts what Pillow can
open into that (grayscale, palette, RGBA and 16-bit images; an EXIF orientation is
applied, so a photo reads as a viewer shows it) and says what it changed;
anything else is a :class:`~jpegai_eval.framework.errors.UserError` naming the file.
Outputs are written to a temporary file in the target folder and renamed into place,
so an error never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.errors import UserError

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Suffixes :func:`write_image` writes, and the Pillow format for each.
WRITE_FORMATS = {".png": "PNG", ".bmp": "BMP", ".ppm": "PPM", ".tif": "TIFF", ".tiff": "TIFF"}


@contextlib.contextmanager
def no_bomb_warning() -> Iterator[None]:
    """Silence Pillow's ``DecompressionBombWarning`` (an image between its
    ``MAX_IMAGE_PIXELS`` and twice that) while opening images: it would print a raw
    Python warning on stderr, while the codecs' pixel caps answer such an image with a
    clean error and a larger one is Pillow's ``DecompressionBombError``, which every
    reader turns into one."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def image_size(path: Path) -> tuple[int, int] | str:
    """``(height, width)`` from the image file's header, or why it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return f"{path}: the file is missing"
    try:
        with no_bomb_warning(), Image.open(path) as img:
            width, height = img.size
    except Image.DecompressionBombError:
        return (
            f"{path}: too large to open safely (more than "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels, the size of a decompression "
            "bomb); downscale or crop it"
        )
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return f"{path}: Cannot read it as an image ({exc or type(exc).__name__})"
    return height, width


def read_image(path: str | os.PathLike[str]) -> NDArray[Any]:
    """The image at ``path`` as (H, W, 3) uint8 RGB; conversions happen silently."""
    return read_image_with_notes(path)[0]


def read_image_with_notes(path: str | os.PathLike[str]) -> tuple[NDArray[Any], list[str]]:
    """The image at ``path`` as (H, W, 3) uint8 RGB, and a note for each conversion made
    (turned by its EXIF orientation, grayscale to RGB, alpha dropped, 16 bits to 8).
    Unreadable files are a UserError."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"Image file not found: {str(path)!r}. Give the path of an existing PNG or JPEG file."
        )
    try:
        # Pillow warns (on stderr, as a raw Python warning) about an image between its
        # MAX_IMAGE_PIXELS and twice that; the codecs' own pixel caps answer such an image
        # with a clean error, so the warning is only noise before it.
        with no_bomb_warning(), Image.open(path) as img:
            img.load()
            mode = img.mode
            orientation = exif_orientation(img)
            turned = orientation in TURNING_ORIENTATIONS
            image = ImageOps.exif_transpose(img) if turned else img.copy()
            wide_png = img.format == "PNG" and _png_bit_depth(path) == 16
    except Image.DecompressionBombError:
        raise UserError(
            f"{str(path)!r} is too large to open safely: more than "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels (twice Pillow's MAX_IMAGE_PIXELS), "
            "the size of a decompression bomb. Downscale or crop it first."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise UserError(
            f"Cannot read {str(path)!r} as an image ({exc or type(exc).__name__}). Give a "
            "PNG, JPEG or other file that Pillow can open."
        ) from None
    array, notes = _to_rgb8(image, mode, str(path), np)
    if turned:
        notes.insert(0, f"{path}: turned by its EXIF orientation {orientation}.")
    if wide_png and mode in ("RGB", "RGBA", "LA", "L"):
        # Pillow reads 16-bit colour PNGs as 8-bit (keeping the high byte) without a word.
        notes.insert(0, f"{path}: 16-bit PNG reduced to 8 bits per channel.")
    return array, notes


#: EXIF orientations (tag 0x0112) other than 1, "as stored": each turns or mirrors the
#: image, as viewers (and Pillow's ``ImageOps.exif_transpose``) show it.
TURNING_ORIENTATIONS = range(2, 9)


def exif_orientation(img) -> int:  # type: ignore[no-untyped-def]
    """The EXIF orientation of an open Pillow image (1 when absent or unreadable)."""
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a malformed EXIF block leaves the image as stored
        return 1


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth in a PNG's IHDR chunk (byte 24), or None when unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(25)
    except OSError:
        return None
    return head[24] if len(head) == 25 and head[12:16] == b"IHDR" else None


def _to_rgb8(image, mode: str, name: str, np) -> tuple[NDArray[Any], list[str]]:  # type: ignore[no-untyped-def]
    notes: list[str] = []
    if mode == "RGB":
        array = np.array(image, dtype=np.uint8)
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale (Pillow opens 16-bit PNGs as I;16 or I): scale to 8 bits.
        wide = np.asarray(image).astype(np.float64)
        if wide.max(initial=0) > 255 or mode.startswith("I;16"):
            wide = wide / 257.0
            notes.append(f"{name}: 16-bit grayscale converted to 8-bit RGB.")
        else:
            notes.append(f"{name}: grayscale converted to RGB.")
        gray = np.clip(np.rint(wide), 0, 255).astype(np.uint8)
        array = np.repeat(gray[:, :, None], 3, axis=2)
    elif mode == "F":
        raise UserError(
            f"{name!r} is a floating-point image (Pillow mode F), which has no defined 8-bit "
            "range. Convert it to an 8-bit PNG first."
        )
    else:
        if "A" in mode or (mode == "P" and "transparency" in image.info):
            notes.append(f"{name}: alpha channel dropped (image was {mode}).")
        elif mode in ("L", "1", "LA"):
            notes.append(f"{name}: grayscale converted to RGB.")
        else:
            notes.append(f"{name}: converted from Pillow mode {mode} to RGB.")
        array = np.array(image.convert("RGB"), dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise UserError(f"{name!r} decoded to an unusable shape {array.shape}.")
    return np.ascontiguousarray(array), notes


def image_format(suffix: str) -> str:
    """The Pillow format for a lossless image suffix; any other suffix is a UserError."""
    fmt = WRITE_FORMATS.get(suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(WRITE_FORMATS))
        raise UserError(
            f"Cannot write decoded images as {suffix or '(no suffix)'!r}: give a lossless "
            f"image suffix ({known}), so the file holds exactly the decoded pixels."
        )
    return fmt


def encode_image(image: NDArray[Any], suffix: str = ".png") -> bytes:
    """The bytes of ``image`` in the format named by ``suffix`` (lossless formats only)."""
    from PIL import Image

    fmt = image_format(suffix)
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def write_image(path: str | os.PathLike[str], image: NDArray[Any]) -> None:
    """Write ``image`` to ``path`` atomically, in the format its suffix names."""
    path = Path(path)
    data = encode_image(image, path.suffix or ".png")
    atomic_write_bytes(path, data)


#: Every temporary file the tool writes starts with this name, and the sweep of a run
#: folder deletes only files named so: a user's own ``.notes.tmp`` is never touched.
TEMP_PREFIX = ".jpegai-eval-tmp-"


def temp_path(path: str | os.PathLike[str]) -> Path:
    """A temporary name beside ``path`` that only this tool (and this process) uses:
    ``.jpegai-eval-tmp-<pid>-<name>``."""
    path = Path(path)
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{path.name}")


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named like a temporary file of this tool."""
    return Path(path).name.startswith(TEMP_PREFIX)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``,
    on any error delete it, so ``path`` is either complete or untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(
            f"Cannot write {str(path)!r}: folder {str(folder)!r} does not exist. Create "
            "it first, or give another output path."
        )
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f"{TEMP_PREFIX}{os.getpid()}-{path.name}.", suffix="", dir=folder
        )
    except OSError as exc:
        raise UserError(
            f"Cannot write {str(path)!r}: {exc.strerror or exc} (in folder {str(folder)!r}). "
            "Give an output path in a writable folder."
        ) from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def read_bytes(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The contents of ``path``; a missing or unreadable file is a UserError."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} not found: {str(path)!r}. Check the path.") from None
    except IsADirectoryError:
        raise UserError(f"{what} {str(path)!r} is a folder, not a file.") from None
    except OSError as exc:
        raise UserError(f"Cannot read {what} {str(path)!r}: {exc.strerror}.") from None
