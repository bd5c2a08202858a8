"""A testing kit for plugin authors: run the framework's contracts on a codec or a task.

::

    from jpegai_eval.testing import check_codec, check_task

    def test_my_codec_keeps_the_contract():
        for quality in MyCodec.qualities:
            check_codec(MyCodec(), quality, weights=None)

    def test_my_task_keeps_the_contract(tmp_path):
        check_task(MyTask(), make_tiny_dataset(tmp_path))

Each check raises :class:`ContractError` (an ``AssertionError``, so pytest shows it as
a failed assertion) naming the codec or task, the rule broken and what was seen; it
returns a small report of what it measured when every rule holds.

The codec rules (:func:`check_codec`):

- ``load`` declares ``Codec.load``'s parameters and returns a :class:`CodecModel` of
  that codec and quality; a model that loads weights (its codec has a compressed
  domain, or it holds a module with parameters) has a non-empty ``weights_id``;
- a small image round-trips: ``encode`` gives a complete ``.jai`` file whose header
  names the codec, backend, quality, image size and weights; ``decode`` gives an
  ``(H, W, 3)`` uint8 image, the same one every time and from a freshly loaded model
  (everything needed is in the file);
- the rate is the whole file: the framework's measurement counts every byte of it;
- with a compressed domain: ``latents`` gives exactly the float32 tensors the
  :class:`LatentSpec` declares (``y_hat``, and ``sigma_hat``, ``mu_hat``... when
  declared), each of the shape the spec and the header promise, the same from a fresh model
  and a copy of the file, different for another image, and computed from the bitstream
  alone -- while ``latents`` runs, the model's pixel path (``decode``, ``encode``) and
  any synthesis or analysis transform it exposes as a ``g_s`` / ``g_a`` attribute
  (CompressAI's names; on the model or on an attribute of it, such as ``model.net``)
  raise, so a codec that runs g_s or g_a to get its latents fails (when two images
  give one ``y_hat`` and one decoded image, the error names the likely cause: an
  untrained analysis transform, |y| < 0.5 everywhere);
- a truncated, extended, bit-flipped or re-labelled file (another codec, quality or
  weights) is refused with :class:`BitstreamError` by ``decode`` and ``latents``, and
  a well-formed container around a garbage payload either decodes to a well-formed
  image or is refused with :class:`BitstreamError` -- never another exception.

The task rules (:func:`check_task`): see its docstring.

:func:`load_plugins` gives a fresh plugin manager with the installed plugins named, to
test that a plugin is found through its entry point. This module imports only
:mod:`jpegai_eval.framework`.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from jpegai_eval.framework.api.bitstream import MAGIC, Header, bits_per_pixel, pack, unpack
from jpegai_eval.framework.api.plugins import LOAD_PLUGINS_ENV, Plugins, make_plugin_manager
from jpegai_eval.framework.api.types import Codec, CodecModel, LatentSpec, Sample, Task
from jpegai_eval.framework.errors import BitstreamError, UserError
from jpegai_eval.framework.run.runfolder import SPLITS

__all__ = [
    "CodecReport",
    "ContractError",
    "TaskReport",
    "check_codec",
    "check_task",
    "load_plugins",
    "synthetic_image",
]

#: The default test image: small, and not a multiple of 16 or 64 on either side, so
#: padding and cropping are exercised.
IMAGE_SIZE = (72, 88)
#: The attribute names of synthesis and analysis transforms (CompressAI's).
TRANSFORMS = ("g_s", "g_a")
#: The model's pixel path: none of it may run while latents are taken.
PIXEL_PATH = ("decode", "_decode_payload", "encode", "_encode_payload")


class ContractError(AssertionError):
    """A plugin broke a rule of the framework's contract."""


def synthetic_image(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, textured (H, W, 3) uint8 RGB image, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        fx, fy = rng.uniform(0.02, 0.2, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(fx * xx + fy * yy + phase)
        ramp = (xx / max(width - 1, 1)) * rng.uniform(-1, 1)
        channels.append(0.5 + 0.3 * wave + 0.2 * ramp)
    image = np.stack(channels, axis=2) + rng.normal(0, 0.03, size=(height, width, 3))
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def load_plugins(*names: str) -> Plugins:
    """A fresh plugin manager with the built-in plugins and the installed plugins
    ``names`` (entry-point or distribution names), as ``JPEGAI_EVAL_LOAD_PLUGINS=NAMES
    jpegai-eval`` loads them: ``load_plugins("my_plugin").codecs.origin("id/backend")``
    shows that a plugin is found through its entry point and what it registered."""
    old = os.environ.get(LOAD_PLUGINS_ENV)
    os.environ[LOAD_PLUGINS_ENV] = ",".join(names)
    try:
        return make_plugin_manager()
    finally:
        if old is None:
            del os.environ[LOAD_PLUGINS_ENV]
        else:
            os.environ[LOAD_PLUGINS_ENV] = old


# --------------------------------------------------------------------------- codecs


@dataclass
class CodecReport:
    """What :func:`check_codec` measured on its test image."""

    codec: str
    quality: int
    height: int
    width: int
    bytes: int
    bpp: float
    psnr: float
    latent_shape: tuple[int, ...] | None = None
    #: The transforms that were made to raise while latents were taken (``net.g_s``...).
    guarded: list[str] = field(default_factory=list)
    #: The damaged files that were refused, by name.
    refused: list[str] = field(default_factory=list)


def check_codec(
    codec: Codec,
    quality: int,
    weights: str | None = None,
    *,
    weights_dir: str | None = None,
    device: str = "cpu",
    image: np.ndarray | None = None,
    min_psnr: float | None = None,
) -> CodecReport:
    """Run the codec contract (module docstring) on ``codec`` at ``quality`` with
    ``weights``; raise :class:`ContractError` on the first rule broken.

    ``image`` replaces the default synthetic test image; ``min_psnr`` (dB) also
    requires that much fidelity of the round trip.
    """
    name = f"{getattr(codec, 'key', codec)!s} at quality {quality}"

    def fail(rule: str, seen: str) -> ContractError:
        return ContractError(f"check_codec({name}): {rule}; {seen}")

    # -- the codec and its load() ------------------------------------------------------
    if not isinstance(codec, Codec):
        raise fail("a codec is a jpegai_eval.Codec", f"got {type(codec).__name__}")
    for attr in ("id", "backend"):
        if not isinstance(getattr(codec, attr), str) or not getattr(codec, attr):
            raise fail(f"Codec.{attr} is a non-empty string", f"got {getattr(codec, attr)!r}")
    qualities = tuple(codec.qualities)
    if not qualities or any(not isinstance(q, int) or not 0 <= q <= 255 for q in qualities):
        raise fail("Codec.qualities are integers 0..255", f"got {qualities!r}")
    if quality not in qualities:
        raise fail("the quality checked is one of Codec.qualities", f"got {qualities!r}")
    params = inspect.signature(codec.load).parameters
    missing = [p for p in ("quality", "weights", "device", "weights_dir") if p not in params]
    if missing:
        raise fail("load() declares quality, weights, device, weights_dir", f"missing {missing}")
    model = _load(codec, quality, weights, weights_dir, device, fail)

    # -- round trip ---------------------------------------------------------------------
    if image is None:
        image = synthetic_image(*IMAGE_SIZE, seed=0)
    height, width = int(image.shape[0]), int(image.shape[1])
    from jpegai_eval.framework.quality.metrics import measure, psnr

    data = _run(lambda: model.encode(image), "encode() runs on a small RGB image", fail)
    if not isinstance(data, bytes):
        raise fail("encode() returns bytes (a complete .jai file)", f"got {type(data).__name__}")
    if data[: len(MAGIC)] != MAGIC:
        raise fail("encode() returns a complete .jai file", f"it starts with {data[:8]!r}")
    try:
        header, payload = unpack(data)
    except BitstreamError as exc:
        raise fail("encode() returns a valid .jai file", f"unpack says: {exc}") from None
    expected = (codec.id, codec.backend, quality, height, width, model.weights_id)
    got = (header.codec, header.backend, header.quality, header.height, header.width)
    if got + (header.weights_id,) != expected:
        raise fail(
            "the header names the codec, backend, quality, image size and weights id",
            f"header has {got + (header.weights_id,)}, expected {expected}",
        )
    # Decoding runs no analysis transform and no encoder.
    with _guarded(model, ("g_a",), ("encode", "_encode_payload")):
        decoded = _run(lambda: model.decode(data), "decode() runs on the file it made", fail)
    _check_image(decoded, (height, width), "decode()", fail)
    # The rate is the whole file, header and all, as the framework measures it.
    measured, measured_data, _ = _run(
        lambda: measure(model, image), "the framework's measurement runs", fail
    )
    whole = 8.0 * len(measured_data) / (height * width)
    if measured.bytes != len(measured_data) or abs(measured.bpp - whole) > 1e-9:
        raise fail(
            "the rate counts the whole file: bpp = 8 * len(file) / (H * W)",
            f"measured {measured.bytes} bytes, {measured.bpp} bpp; the file has "
            f"{len(measured_data)} bytes, {whole} bpp",
        )
    bpp = bits_per_pixel(data, height, width)
    again = model.decode(data)
    if not np.array_equal(again, decoded):
        raise fail("decode() is deterministic", "two decodes of one file differ")
    fresh = _load(codec, quality, weights, weights_dir, device, fail)
    with _guarded(fresh, ("g_a",), ("encode", "_encode_payload")):
        from_fresh = _run(
            lambda: fresh.decode(bytes(bytearray(data))),
            "the file holds everything decode() needs (a fresh model decodes a copy)",
            fail,
        )
    if not np.array_equal(from_fresh, decoded):
        raise fail(
            "the file holds everything decode() needs",
            "a freshly loaded model decodes a copy of it to another image",
        )
    quality_db = psnr(image, decoded)
    if min_psnr is not None and not quality_db >= min_psnr:
        raise fail(f"the round trip keeps at least {min_psnr} dB PSNR", f"got {quality_db:.2f}")
    report = CodecReport(codec.key, quality, height, width, len(data), bpp, quality_db)

    # -- the compressed domain ------------------------------------------------------------
    if codec.has_compressed_domain:
        _check_latents(codec, model, fresh, image, data, header, report, fail)
    else:
        try:
            model.latents(data)
        except UserError:
            pass
        else:
            raise fail(
                "a codec without a compressed domain refuses latents() with a UserError",
                "latents() returned",
            )

    # -- damaged and re-labelled files ------------------------------------------------------
    steps: list[tuple[str, Callable[[bytes], Any]]] = [("decode()", model.decode)]
    if codec.has_compressed_domain:
        steps.append(("latents()", model.latents))
    for label, damaged in _damaged_files(data, header, payload):
        for step, fn in steps:
            _refused(fn, damaged, f"{step} of a {label} file", fail)
        report.refused.append(label)
    for label, garbage in _garbage_payloads(header, len(payload)):
        try:
            out = model.decode(garbage)
        except BitstreamError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point is which exception
            raise fail(
                f"decode() of a {label} raises BitstreamError or decodes",
                f"it raised {type(exc).__name__}: {exc}",
            ) from exc
        _check_image(out, (height, width), f"decode() of a {label}", fail)
    return report


#: Builds the ContractError for a broken rule: ``fail(rule, what was seen)``.
Fail = Callable[[str, str], ContractError]


def _run(step: Callable[[], Any], rule: str, fail: Fail) -> Any:
    try:
        return step()
    except ContractError:
        raise
    except Exception as exc:
        raise fail(rule, f"it raised {exc!r}") from exc


def _load(
    codec: Codec,
    quality: int,
    weights: str | None,
    weights_dir: str | None,
    device: str,
    fail: Fail,
) -> CodecModel:
    model = codec.load(quality, weights=weights, device=device, weights_dir=weights_dir)
    if not isinstance(model, CodecModel):
        raise fail("load() returns a jpegai_eval.CodecModel", f"got {type(model).__name__}")
    if model.codec is not codec or model.quality != quality:
        raise fail(
            "load() returns a model of this codec at this quality",
            f"got {getattr(model.codec, 'key', model.codec)} at quality {model.quality}",
        )
    if not isinstance(model.weights_id, bytes) or len(model.weights_id) > 255:
        raise fail("weights_id is at most 255 bytes", f"got {model.weights_id!r}")
    if not model.weights_id and _loads_weights(model):
        raise fail(
            "a model that loads weights names them in weights_id, a short digest of the "
            "loaded weights (it goes into every file's header, so a file is never decoded "
            "with other weights, and it names the run's cache folder)",
            "weights_id is empty, so files of any weights would pass for each other and the "
            f"cache folder would be q{quality}-none. Pass CodecModel.__init__(codec, quality, "
            "weights_id=...) a digest of the weights' bytes, e.g. "
            "hashlib.blake2b(data, digest_size=8).digest()",
        )
    return model


def _loads_weights(model: CodecModel) -> bool:
    """The rule for "this model loads weights": its codec has a compressed domain (a
    learned analysis transform gives it), or the model holds a module with parameters
    (a ``torch.nn.Module``, on the model or on one of its attributes)."""
    if model.codec.has_compressed_domain:
        return True
    for value in (model, *vars(model).values()):
        parameters = getattr(value, "parameters", None)
        if callable(getattr(value, "state_dict", None)) and callable(parameters):
            try:
                if next(iter(parameters()), None) is not None:
                    return True
            except Exception:  # noqa: BLE001 - something else called parameters
                continue
    return False


def _check_image(out: Any, size: tuple[int, int], what: str, fail: Fail) -> None:
    shape = getattr(out, "shape", None)
    dtype = str(getattr(out, "dtype", type(out).__name__))
    if not isinstance(out, np.ndarray) or shape != (*size, 3) or dtype != "uint8":
        raise fail(
            f"{what} returns an (H, W, 3) uint8 image of the original size",
            f"got {type(out).__name__} of shape {shape} and dtype {dtype}, expected {(*size, 3)}",
        )


def _check_latents(
    codec: Codec,
    model: CodecModel,
    fresh: CodecModel,
    image: np.ndarray,
    data: bytes,
    header: Header,
    report: CodecReport,
    fail: Fail,
) -> None:
    spec = model.latent_spec or codec.latent_spec(model.quality)
    if not isinstance(spec, LatentSpec):
        raise fail("a codec with a compressed domain has a LatentSpec", f"got {spec!r}")
    with _guarded(model, TRANSFORMS, PIXEL_PATH) as guarded:
        latents = _run(lambda: model.latents(data), "latents() runs on the file it made", fail)
    report.guarded = guarded
    names = spec.names
    if not isinstance(latents, dict) or set(latents) != set(names):
        got = sorted(latents) if isinstance(latents, dict) else type(latents).__name__
        raise fail(f"latents() returns the LatentSpec's tensors {list(names)}", f"got {got}")
    for tensor in spec.tensors:
        key, value = tensor.name, latents[tensor.name]
        shape = tensor.shape_for(header.height, header.width)
        if not isinstance(value, np.ndarray) or value.dtype != np.float32:
            raise fail(f"{key} is a float32 numpy array", f"got {getattr(value, 'dtype', value)}")
        if value.shape != shape:
            raise fail(
                f"{key} has the LatentSpec's shape for a {header.width}x{header.height} image",
                f"got {value.shape}, expected {shape} from {spec}",
            )
        if not np.isfinite(value).all():
            raise fail(f"{key} is finite", "it holds NaN or inf")
    y_hat = latents["y_hat"]
    if tuple(header.latent_shape) != y_hat.shape:
        raise fail(
            "the header's latent shape is y_hat's",
            f"header has {tuple(header.latent_shape)}, y_hat is {y_hat.shape}",
        )
    # sigma_hat may hold negative values: TFC's h_s ends without an activation and its
    # entropy model bounds the scale from below, so the sign is no rule of the contract.
    report.latent_shape = tuple(int(s) for s in y_hat.shape)
    # From the bitstream alone: a fresh model, a copy of the file, the same latents --
    # after another image went through the first model.
    other = model.encode(synthetic_image(*image.shape[:2], seed=1))
    rule = "latents() depend on the file only (a fresh model reads a copy)"
    with _guarded(fresh, TRANSFORMS, PIXEL_PATH):
        again = _run(lambda: fresh.latents(bytes(bytearray(data))), rule, fail)
        other_latents = _run(lambda: fresh.latents(other), rule, fail)
    for key in names:
        if not np.array_equal(again[key], latents[key]):
            raise fail(
                "latents() depend on the file only",
                f"a fresh model gives another {key} for a copy of the same file",
            )
    if np.array_equal(other_latents["y_hat"], y_hat):
        raise fail("latents() are read from the file", _same_y_hat(model, data, other, y_hat))


def _same_y_hat(model: CodecModel, data: bytes, other: bytes, y_hat: np.ndarray) -> str:
    """What was seen when two different images gave one y_hat, with its likely cause
    when the two files also decode to one image: the analysis transform gives |y| < 0.5
    everywhere (PyTorch's default init, untrained weights), so every y_hat rounds to the
    same value and the codec codes nothing of the image."""
    seen = "two different images give one y_hat"
    if not np.array_equal(model.decode(data), model.decode(other)):
        return seen  # the files differ: latents() does not read them
    values = np.unique(y_hat)
    held = f"every y_hat is {values[0]:g}" if values.size == 1 else "y_hat is the same"
    return (
        f"{seen}, and their files decode to one image ({held}): |y| < 0.5 everywhere: "
        "untrained analysis transform? With PyTorch's default initialisation (untrained "
        "weights) every y rounds to the same y_hat; check the codec with trained weights"
    )


@contextmanager
def _guarded(
    model: CodecModel, transforms: tuple[str, ...], methods: tuple[str, ...]
) -> Iterator[list[str]]:
    """While inside, the model's ``methods`` and every ``transforms`` attribute of the
    model or of its attributes (``model.net.g_s``...) raise :class:`ContractError`.
    Yields the names of what was guarded."""
    undo: list[Callable[[], None]] = []
    names: list[str] = []

    def refuse(label: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise ContractError(
                f"check_codec({model.codec.key} at quality {model.quality}): {label} ran "
                "where the contract forbids it (latents come from the bitstream: "
                "entropy decoding and h_s only, never g_s or g_a; decode runs no g_a)"
            )

        return refused

    def patch_attr(obj: Any, attr: str, label: str) -> None:
        had = attr in getattr(obj, "__dict__", {})
        old = obj.__dict__.get(attr) if had else None
        setattr(obj, attr, refuse(label))

        def restore() -> None:
            if had:
                setattr(obj, attr, old)
            else:
                delattr(obj, attr)

        undo.append(restore)
        names.append(label)

    for method in methods:
        if callable(getattr(model, method, None)):
            patch_attr(model, method, f"model.{method}()")
    holders: list[tuple[str, Any]] = [("model", model)]
    holders += [
        (f"model.{k}", v)
        for k, v in vars(model).items()
        if not k.startswith("__") and any(_has_attr(v, t) for t in transforms)
    ]
    for where, holder in holders:
        for t in transforms:
            transform = _has_attr(holder, t) and getattr(holder, t)
            if not transform:
                continue
            if callable(getattr(transform, "forward", None)):  # a torch.nn.Module
                patch_attr(transform, "forward", f"{where}.{t}")
            elif callable(transform):
                patch_attr(holder, t, f"{where}.{t}")
    try:
        yield names
    finally:
        for restore in reversed(undo):
            restore()


def _has_attr(obj: Any, name: str) -> bool:
    try:
        return hasattr(obj, name)
    except Exception:  # noqa: BLE001 - a property that fails is no transform
        return False


def _damaged_files(data: bytes, header: Header, payload: bytes) -> Iterator[tuple[str, bytes]]:
    head = len(data) - len(payload)
    # magic, version, then the codec id and the backend each after a length byte
    quality_at = len(MAGIC) + 1 + 1 + len(header.codec.encode()) + 1 + len(header.backend.encode())
    yield "empty", b""
    yield "truncated (header only)", data[:head]
    yield "truncated (half)", data[: len(data) // 2]
    yield "truncated (last byte missing)", data[:-1]
    yield "extended (one extra byte)", data + b"\0"
    for label, pos in (
        ("bit-flipped (last byte)", len(data) - 1),
        ("bit-flipped (middle of payload)", head + len(payload) // 2),
        ("bit-flipped (quality byte)", quality_at),
    ):
        flipped = bytearray(data)
        flipped[pos] ^= 0x10
        yield label, bytes(flipped)
    yield "foreign (PNG)", b"\x89PNG\r\n\x1a\n" + data[8:]
    # Valid containers, made for something else: the model must look at the header.
    yield "re-labelled (another codec)", pack(replace(header, codec=header.codec + "-x"), payload)
    yield "re-labelled (another backend)", pack(replace(header, backend="other"), payload)
    yield (
        "re-labelled (another quality)",
        pack(replace(header, quality=header.quality ^ 1), payload),
    )
    if header.weights_id:
        other = bytes(b ^ 0xFF for b in header.weights_id)
        yield "re-labelled (other weights)", pack(replace(header, weights_id=other), payload)


def _garbage_payloads(header: Header, size: int) -> Iterator[tuple[str, bytes]]:
    rng = np.random.default_rng(7)
    yield "valid container with an empty payload", pack(header, b"")
    noise = rng.integers(0, 256, size=max(size, 16), dtype=np.uint8).tobytes()
    yield "valid container with a random payload", pack(header, noise)


def _refused(fn: Callable[[bytes], Any], data: bytes, what: str, fail: Fail) -> None:
    try:
        fn(data)
    except BitstreamError:
        return
    except Exception as exc:  # noqa: BLE001 - the point is which exception
        raise fail(
            f"{what} is refused with BitstreamError",
            f"it raised {type(exc).__name__}: {exc}",
        ) from exc
    raise fail(f"{what} is refused with BitstreamError", "it was accepted")


# ---------------------------------------------------------------------------- tasks


@dataclass
class TaskReport:
    """What :func:`check_task` found in the dataset at ``root``."""

    task: str
    classes: int
    #: split -> number of samples
    counts: dict[str, int]
    #: images decoded per split
    read: dict[str, int]


def check_task(
    task: Task,
    root: str | Path,
    *,
    root_option: str = "data_root",
    max_images: int = 16,
    **options: Any,
) -> TaskReport:
    """Run the task contract on ``task`` with the dataset at ``root`` (passed to
    ``task.samples`` as ``root_option``, with any other dataset ``options``); raise
    :class:`ContractError` on the first rule broken:

    - a task is a :class:`Task` with an id and at least two unique, non-empty class
      names;
    - ``build_classifier``, ``train`` and ``init_classifier`` take every argument the
      Task contract gives them (checked on their signatures, nothing is built or
      trained); one written before ``preset``, ``ddp``, ``deterministic`` or ``domain``
      were given is a DeprecationWarning, as it is in a run;
    - each of the framework's splits (``train``, ``test``) is a non-empty list of
      :class:`Sample` with unique ids, existing files and labels in
      ``range(len(classes))``, the same list on every call, and no image in both;
    - samples are readable: up to ``max_images`` per split, spread over the split,
      decode to RGB images with :func:`jpegai_eval.framework.io.image_io.read_image`;
    - what a user can get wrong is a :class:`UserError`, never another exception: an
      unknown split name, a root that does not exist (the message names it) and an
      empty root folder.
    """
    name = getattr(task, "id", None) or type(task).__name__

    def fail(rule: str, seen: str) -> ContractError:
        return ContractError(f"check_task({name}): {rule}; {seen}")

    if not isinstance(task, Task):
        raise fail("a task is a jpegai_eval.Task", f"got {type(task).__name__}")
    if not isinstance(task.id, str) or not task.id:
        raise fail("Task.id is a non-empty string", f"got {task.id!r}")
    _check_task_contract(task, fail)

    def samples(split: str, where: Any = root) -> Any:
        return task.samples(split, **{root_option: where, **options})

    # A task may learn its classes from the dataset (imagefolder): list a split first.
    _run(lambda: samples(SPLITS[0]), f"samples({SPLITS[0]!r}) lists {root}", fail)
    classes = tuple(task.classes)
    if (
        len(classes) < 2
        or len(set(classes)) != len(classes)
        or not all(isinstance(c, str) and c for c in classes)
    ):
        raise fail("Task.classes are at least two unique non-empty names", f"got {classes!r}")

    counts: dict[str, int] = {}
    read: dict[str, int] = {}
    owner: dict[str, str] = {}
    for split in SPLITS:
        items = _run(lambda s=split: samples(s), f"samples({split!r}) lists {root}", fail)
        _check_samples(split, items, len(classes), owner, fail)
        if samples(split) != items:
            raise fail(f"samples({split!r}) is the same on every call", "two calls differ")
        counts[split] = len(items)
        read[split] = _check_readable(items, max_images, fail)
    _check_user_errors(samples, fail)
    return TaskReport(task.id, len(classes), counts, read)


#: What the framework gives each classifier method of a task: (positional arguments,
#: keywords every version of the contract gave, keywords an older task may lack).
_TASK_CALLS: dict[str, tuple[tuple[Any, ...], dict[str, object], dict[str, object]]] = {
    "build_classifier": (("pixel", None), {}, {"preset": None}),
    "train": (
        (None, []),
        dict(preset="p", domain="pixel", out_dir=Path("out"), device="cpu", workers=0, seed=0),
        {"ddp": False, "deterministic": None},
    ),
    "init_classifier": ((None, None), {}, {"domain": "pixel"}),
}


def _check_task_contract(task: Task, fail: Fail) -> None:
    """Bind (not call) each classifier method to the arguments the framework gives it."""
    import warnings

    for method, (args, given, legacy) in _TASK_CALLS.items():
        signature = inspect.signature(getattr(task, method))
        try:
            signature.bind(*args, **given, **legacy)
            continue
        except TypeError:
            pass
        try:
            signature.bind(*args, **given)
        except TypeError as exc:
            taken = ", ".join([f"{len(args)} positional", *given, *legacy])
            raise fail(
                f"{method}() takes every argument the Task contract gives it ({taken})",
                f"it refuses them: {exc}",
            ) from None
        warnings.warn(
            f"check_task({task.id}): {type(task).__name__}.{method}() does not take "
            f"{', '.join(legacy)}, which the Task contract gives it; runs call it without, "
            "with a DeprecationWarning, for now. Add the keyword(s).",
            DeprecationWarning,
            stacklevel=3,
        )


def _check_samples(
    split: str, items: Any, n_classes: int, owner: dict[str, str], fail: Fail
) -> None:
    """``items`` is a non-empty list of Samples with unique ids, labels in range, files
    that exist, and no id that another split (``owner``) already has."""
    if not isinstance(items, list) or not items:
        raise fail(f"samples({split!r}) is a non-empty list", f"got {items!r:.80}")
    ids: set[str] = set()
    for s in items:
        if not isinstance(s, Sample):
            raise fail(f"samples({split!r}) holds Sample objects", f"got {s!r:.80}")
        if not isinstance(s.label, int) or not 0 <= s.label < n_classes:
            raise fail(
                f"labels are in range(len(classes)) = range({n_classes})",
                f"{s.id!r} has label {s.label!r}",
            )
        if s.id in ids:
            raise fail(f"sample ids are unique in {split!r}", f"{s.id!r} is listed twice")
        ids.add(s.id)
        if s.id in owner:
            raise fail("no image is in two splits", f"{s.id!r} in {owner[s.id]} and {split}")
        owner[s.id] = split
        if not Path(s.path).is_file():
            raise fail("every sample's path is a file", f"{s.id!r} -> {s.path}")


def _check_readable(items: list[Sample], max_images: int, fail: Fail) -> int:
    """Read up to ``max_images`` of ``items``, spread over them, as RGB; how many."""
    from jpegai_eval.framework.io.image_io import read_image

    step = max(1, len(items) // max(1, max_images))
    chosen = items[::step][:max_images]
    for s in chosen:
        image = _run(lambda s=s: read_image(s.path), f"{s.id!r} is a readable image", fail)
        if getattr(image, "ndim", 0) != 3 or image.shape[2] != 3:
            raise fail("samples are RGB images", f"{s.id!r} reads as {image.shape}")
    return len(chosen)


def _check_user_errors(samples: Callable[..., Any], fail: Fail) -> None:
    """An unknown split, a missing root and an empty root are UserErrors (the missing
    root's names it)."""
    with tempfile.TemporaryDirectory() as tmp:
        missing = Path(tmp) / "no-such-dataset"
        empty = Path(tmp) / "empty"
        empty.mkdir()
        for what, call, needle in (
            ("an unknown split", lambda: samples("no-such-split"), None),
            ("a root that does not exist", lambda: samples(SPLITS[0], missing), missing.name),
            ("an empty root folder", lambda: samples(SPLITS[0], empty), None),
        ):
            try:
                call()
            except UserError as exc:
                if needle and needle not in exc.message:
                    raise fail(
                        f"the error for {what} names it ({needle})", f"it says: {exc.message}"
                    ) from None
                continue
            except Exception as exc:  # noqa: BLE001 - the point is which exception
                raise fail(
                    f"{what} is a UserError (one paragraph, no traceback)",
                    f"it raised {type(exc).__name__}: {exc}",
                ) from exc
            raise fail(f"{what} is a UserError", "samples() returned without one")
