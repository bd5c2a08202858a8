"""The ``.jai`` container: a small self-describing header around a codec's payload.

Layout (big-endian)::

    offset  size  field
    0       4     magic  b"JPAI"
    4       1     format version (1)
    5       1+n   codec id          (length byte, UTF-8)
    .       1+n   backend           (length byte, UTF-8)
    .       1     quality
    .       4     original height   (pixels)
    .       4     original width
    .       1+2k  latent shape      (k = number of dims, then k x uint16)
    .       1+n   weights id        (length byte, digest of the weights)
    .       4     payload length    (bytes)
    .       4     CRC-32 of everything before it plus the payload
    .       ...   payload           (the codec's entropy-coded strings)

The whole file counts towards the rate: ``bpp = 8 * len(file) / (H * W)``.
A truncated, bit-flipped or foreign file is refused with a :class:`BitstreamError`
before any decoding starts.

Size limit: a header is read before anything is allocated for its image, so a small
file cannot make a decoder allocate gigabytes. A header of a 0-pixel image, or of more
than :func:`max_pixels` pixels, is refused. The limit is
:data:`DEFAULT_MAX_PIXELS` (Pillow's ``Image.MAX_IMAGE_PIXELS``, about 89.5 million
pixels, e.g. 9459 x 9459) unless the environment variable ``JPEGAI_EVAL_MAX_PIXELS``
gives another (a positive integer), as Pillow's own limit can be raised for a trusted
large image. The codecs' payload decoders then check that the payload can describe the
header's image (latent shape, string lengths) before decoding.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from jpegai_eval.framework.errors import BitstreamError

MAGIC = b"JPAI"
VERSION = 1
SUFFIX = ".jai"
#: The default of :func:`max_pixels`: Pillow's ``Image.MAX_IMAGE_PIXELS``.
DEFAULT_MAX_PIXELS = 89_478_485
MAX_PIXELS_ENV = "JPEGAI_EVAL_MAX_PIXELS"


def max_pixels() -> int:
    """The largest height x width a ``.jai`` header may give: ``$JPEGAI_EVAL_MAX_PIXELS``
    when set (a positive integer), else :data:`DEFAULT_MAX_PIXELS`."""
    from jpegai_eval.framework.settings import value

    limit = value(MAX_PIXELS_ENV)  # a SettingError for anything but a whole number > 0
    return DEFAULT_MAX_PIXELS if limit is None else int(limit)


def check_size(height: int, width: int) -> None:
    """Refuse an image size of 0 pixels or above :func:`max_pixels`, before any
    allocation."""
    if height <= 0 or width <= 0:
        raise BitstreamError(
            f"The .jai header gives an image of {width}x{height} pixels; an image has at "
            "least one pixel. The file is corrupt or crafted; re-encode the image."
        )
    limit = max_pixels()
    if height * width > limit:
        raise BitstreamError(
            f"The .jai header gives an image of {width}x{height} = {height * width:,} "
            f"pixels, above the limit of {limit:,} pixels that protects against files "
            "crafted to exhaust memory. If you trust the file and have the memory, raise "
            f"the limit with the environment variable {MAX_PIXELS_ENV}."
        )


@dataclass(frozen=True)
class Header:
    codec: str
    backend: str
    quality: int
    height: int
    width: int
    latent_shape: tuple[int, ...] = ()
    weights_id: bytes = b""


def _short(text: bytes, what: str) -> bytes:
    if len(text) > 255:
        raise ValueError(f"{what} is longer than 255 bytes")
    return bytes([len(text)]) + text


def pack(header: Header, payload: bytes) -> bytes:
    """Return the complete file for ``header`` and ``payload``."""
    if not 0 <= header.quality <= 255:
        raise ValueError(f"quality {header.quality} does not fit in one byte")
    if any(not 0 <= d <= 0xFFFF for d in header.latent_shape):
        raise ValueError(f"latent shape {header.latent_shape} does not fit uint16")
    head = b"".join(
        [
            MAGIC,
            bytes([VERSION]),
            _short(header.codec.encode(), "codec id"),
            _short(header.backend.encode(), "backend"),
            bytes([header.quality]),
            struct.pack(">II", header.height, header.width),
            bytes([len(header.latent_shape)]),
            struct.pack(f">{len(header.latent_shape)}H", *header.latent_shape),
            _short(header.weights_id, "weights id"),
            struct.pack(">I", len(payload)),
        ]
    )
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack(">I", crc) + payload


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise BitstreamError(
                f"The .jai file is truncated: its header needs more than the "
                f"{len(self.data)} bytes present. Re-encode the image, or copy the "
                "file again in full."
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def short(self) -> bytes:
        return self.take(self.take(1)[0])


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Parse and verify a file; return its header and payload."""
    if len(data) < len(MAGIC):
        raise BitstreamError(
            f"The .jai file is empty or truncated ({len(data)} bytes). Re-encode the image, "
            "or copy the file again in full."
        )
    if data[:4] != MAGIC:
        raise BitstreamError(
            f"Not a jpegai-eval bitstream: it starts with {bytes(data[:4])!r}, not "
            f"{MAGIC!r}. Give a .jai file written by `jpegai-eval codec encode`."
        )
    r = _Reader(data)
    r.take(4)
    version = r.take(1)[0]
    if version != VERSION:
        raise BitstreamError(
            f"The .jai file has format version {version}; this jpegai-eval reads "
            f"version {VERSION}. Re-encode the image with this version."
        )
    try:
        codec = r.short().decode()
        backend = r.short().decode()
    except UnicodeDecodeError:
        raise BitstreamError(
            "The .jai header is corrupt (codec name is not text). Re-encode the image."
        ) from None
    quality = r.take(1)[0]
    height, width = struct.unpack(">II", r.take(8))
    ndim = r.take(1)[0]
    latent_shape = struct.unpack(f">{ndim}H", r.take(2 * ndim))
    weights_id = r.short()
    (length,) = struct.unpack(">I", r.take(4))
    head_end = r.pos
    (crc,) = struct.unpack(">I", r.take(4))
    payload = data[r.pos :]
    if len(payload) != length:
        state = "truncated" if len(payload) < length else "followed by extra bytes"
        raise BitstreamError(
            f"The .jai file is {state}: its header promises a {length}-byte payload "
            f"but {len(payload)} bytes follow. Re-encode the image, or copy the file "
            "again in full."
        )
    if zlib.crc32(payload, zlib.crc32(data[:head_end])) != crc:
        raise BitstreamError(
            "The .jai file is corrupt: its CRC-32 checksum does not match its "
            "contents (a flipped bit or a damaged copy). Re-encode the image."
        )
    check_size(height, width)
    header = Header(codec, backend, quality, height, width, tuple(latent_shape), weights_id)
    return header, payload


def check_matches(
    header: Header, codec: str, backend: str, quality: int, weights_id: bytes
) -> None:
    """Refuse a file made by another codec, backend, quality or set of weights."""
    made = f"{header.codec}/{header.backend} at quality {header.quality}"
    here = f"{codec}/{backend} at quality {quality}"
    if (header.codec, header.backend, header.quality) != (codec, backend, quality):
        raise BitstreamError(
            f"This .jai file was made by {made}, but the model given is {here}. "
            "Decode it with the codec and quality named in its header "
            "(`jpegai-eval codec info FILE` shows them)."
        )
    if header.weights_id and weights_id and header.weights_id != weights_id:
        raise BitstreamError(
            f"This .jai file ({made}) was encoded with other weights "
            f"(id {header.weights_id.hex()}) than those given (id {weights_id.hex()}). "
            "Decode it with the same --weights that encoded it."
        )


def pack_strings(strings: list[bytes]) -> bytes:
    """Concatenate several entropy-coded strings (e.g. y and z) into one payload."""
    if len(strings) > 255:
        raise ValueError("at most 255 strings")
    out = [bytes([len(strings)])]
    out += [struct.pack(">I", len(s)) for s in strings]
    return b"".join(out + list(strings))


def unpack_strings(payload: bytes) -> list[bytes]:
    """Inverse of :func:`pack_strings`; a malformed payload is a BitstreamError."""
    r = _Reader(payload)
    try:
        count = r.take(1)[0]
        lengths = [struct.unpack(">I", r.take(4))[0] for _ in range(count)]
        strings = [r.take(n) for n in lengths]
    except BitstreamError:
        raise BitstreamError(
            "The .jai payload is malformed: its string table does not match its "
            "length. Re-encode the image."
        ) from None
    if r.pos != len(payload):
        raise BitstreamError("The .jai payload has trailing bytes. Re-encode the image.")
    return strings


def bits_per_pixel(data: bytes, height: int, width: int) -> float:
    """The rate of a whole file: ``8 * len(data) / (height * width)``."""
    return 8.0 * len(data) / (height * width)
