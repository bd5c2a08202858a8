"""The encode stage: every image, once per codec x quality, into the cache.

Work items are spread over worker processes, each with ``cores // workers`` torch
threads (one on a 2-core machine with 2 workers: no oversubscription). On Linux
without CUDA or TensorFlow initialised the workers are forked, so they start in
milliseconds and inherit the models :func:`open_cell` loaded; elsewhere they are
spawned and load the models they need once. A worker reads the original, encodes it,
decodes the bitstream once through the codec's staged decode -- the reconstruction
and, for codecs with a compressed domain, the latents (y_hat, sigma_hat from the
bitstream) from the same pass -- measures PSNR, SSIM and MS-SSIM and stores the entry
(see :mod:`jpegai_eval.framework.run.cache`). Entries already complete are not redone, so
an interrupted stage resumes. :func:`effective_workers` runs small stages in process,
where a pool would cost more than it gives.

Batched encoding (``--encode-batch``, :func:`batch_size`): for a cell whose model has
``encode_batch`` (the CompressAI hyperprior), the images still to encode are encoded in the
main process, a batch at a time -- the analysis transforms batched on the model's device,
the rANS coding in the model's background thread -- and each job carries its bitstream
(:class:`Coded`, with the batch's wall time shared equally as its encode time) to the
workers, which decode, measure and store it as above (:func:`encode_one`, one path for
both). By default a model on a GPU (loaded there when the run's device is CUDA,
:func:`codec_device`) encodes 16 images a batch and a model on the CPU encodes one by one;
a file that cannot be read or is too small or large is left out of its batch and fails
in its worker with its path, and a batch that fails as a whole is encoded image by image.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.types import Codec, Sample, checked_latent_spec
from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.image_io import image_size
from jpegai_eval.framework.run.cache import (
    CacheCell,
    EntryMeta,
    Provenance,
    file_digest,
    image_key,
)
from jpegai_eval.framework.run.records import Cell, EncodedEntry, EncodeFailure, EncodeOutcome
from jpegai_eval.framework.run.run_json import EncodeModeJson

if TYPE_CHECKING:
    from jpegai_eval.framework.api.metric_types import Metric
    from jpegai_eval.framework.api.plugins import Plugins


@dataclass(frozen=True)
class Coded:
    """An image's bitstream, encoded before its job reached a worker (in a batch, see
    :func:`encode_chunk`), and the seconds of encoding it is charged (its share of the
    batch's wall time)."""

    data: bytes
    encode_time: float


@dataclass(frozen=True)
class Job:
    codec: Codec
    quality: int
    weights: str | None
    cell: CacheCell
    sample: Sample
    key: str
    weights_dir: str | None = None
    #: Ids of the registered metrics computed beyond today's (psnr, ms_ssim, ssim),
    #: for the test images; a cached entry without them gets them added.
    metrics: tuple[str, ...] = ()
    #: The device of the cell's model (a spawned worker loads its model there, so that
    #: a bitstream is decoded on the device that encoded it).
    device: str = "cpu"
    #: The bitstream when it was encoded in a batch: the worker only decodes it.
    coded: Coded | None = None


def load_model(
    codec: Codec,
    quality: int,
    weights: str | None,
    weights_dir: str | None,
    device: str = "cpu",
) -> Any:
    """``codec.load`` with the run's weights and weights folder (and ``device``)."""
    if device == "cpu":
        return codec.load(quality, weights=weights, weights_dir=weights_dir)
    return codec.load(quality, weights=weights, device=device, weights_dir=weights_dir)


def batchable(model: Any) -> bool:
    """Whether ``model`` encodes several images at once (``encode_batch``)."""
    return callable(getattr(model, "encode_batch", None))


def model_device(model: Any) -> str:
    """The device a model computes on (``"cpu"`` for a model that does not say)."""
    return str(getattr(model, "device", "cpu"))


def open_cell(
    codec: Codec,
    quality: int,
    weights: str | None,
    cache_root: Path,
    weights_dir: str | None = None,
    device: str = "cpu",
) -> Cell:
    """Load the model once, here, so bad weights fail before any work starts, and key
    the cache folder by the weights' digest. A model with ``encode_batch`` is loaded
    on ``device`` (see :func:`codec_device`); every other model on the CPU."""
    model = load_model(codec, quality, weights, weights_dir)
    if device != "cpu" and batchable(model):
        model = load_model(codec, quality, weights, weights_dir, device)
    wid = model.weights_id.hex()
    spec = model.latent_spec if codec.has_compressed_domain else None
    spec = spec or codec.latent_spec(quality)
    if spec is not None:  # the loaded weights' domain, checked before any encoding
        spec = checked_latent_spec(codec, quality, given=spec)
    provenance = codec_provenance(codec, spec)
    cache = CacheCell.for_codec(cache_root, codec.id, codec.backend, quality, wid, provenance)
    # Kept: the in-process path and forked workers encode with it (no second load).
    _models[_model_key(codec, cache)] = model
    return Cell(codec, quality, weights, wid, cache, spec, weights_dir, model_device(model))


#: ``--encode-batch`` left to its default on a GPU: images per batch.
AUTO_BATCH = 16


def codec_device(run_device: str, encode_batch: int | None) -> str:
    """Where :func:`open_cell` loads a model with ``encode_batch``: on the run's GPU
    (``run_device``, resolved) unless ``--encode-batch`` asks for one image at a time,
    else on the CPU."""
    if run_device.startswith("cuda") and (encode_batch is None or encode_batch > 1):
        return run_device
    return "cpu"


def batch_size(model: Any, encode_batch: int | None) -> int:
    """Images per ``encode_batch`` call for ``model`` (1: encoded one by one in the
    workers). ``encode_batch`` is ``--encode-batch``: None (auto) batches
    :data:`AUTO_BATCH` images on a GPU and none on the CPU; 0 or 1, one by one; N, N
    images, on any device. A model without ``encode_batch`` always codes one by one."""
    if model is None or not batchable(model):
        return 1
    if encode_batch is None:
        return AUTO_BATCH if model_device(model).startswith("cuda") else 1
    return max(1, encode_batch)


def encode_mode(cell: Cell, encode_batch: int | None) -> EncodeModeJson:
    """How the cell's images are encoded, for run.json: images per batch (1: one by
    one) and the device of its model."""
    model = _models.get(_model_key(cell.codec, cell.cache))
    return EncodeModeJson(batch=batch_size(model, encode_batch), device=cell.device)


#: How originals are read (bump when that changes what a codec sees): 2 applies the
#: EXIF orientation, so entries of rotated photographs made before are not reused.
IMAGE_READER = 2


@dataclass(frozen=True)
class CodecOrigin:
    """Where a codec comes from: the plugin that registered it (empty for a codec that
    no plugin registered) and the distribution and version of the package providing it
    (jpegai-eval's own for the built-in codecs)."""

    plugin: str
    distribution: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"plugin": self.plugin, "distribution": self.distribution, "version": self.version}


def codec_origin(codec: Codec, plugins: Plugins | None = None) -> CodecOrigin:
    """The registry's record of ``codec`` (``plugins``, default: the process's plugin
    manager): its plugin and that plugin's distribution and version. A codec no plugin
    registered (built in a test or a script), or one whose plugin comes from no
    installed distribution, is attributed to the distribution of its class's package."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    from jpegai_eval.framework.api.plugins import get_plugins

    registry = (plugins or get_plugins()).codecs
    entry = registry.origin(codec.key) if codec.key in registry else None
    if entry is not None and type(entry.obj) is not type(codec):
        entry = None  # another codec under the same key: not this one's record
    if entry is not None and entry.distribution.get("name"):
        dist = entry.distribution
        return CodecOrigin(entry.plugin, dist["name"], dist.get("version") or "unknown")
    top = type(codec).__module__.split(".")[0]
    names = packages_distributions().get(top) or [top]
    try:
        release = version(names[0])
    except PackageNotFoundError:
        release = "unknown"
    return CodecOrigin(entry.plugin if entry else "", names[0], release)


def codec_provenance(codec: Codec, spec: Any, origin: CodecOrigin | None = None) -> Provenance:
    """What, besides the weights, makes a codec's cache entries valid: the distribution
    and version of the plugin that provides it (:func:`codec_origin`; jpegai-eval's
    for the built-in codecs), so a plugin upgrade never reuses stale entries, and its
    latent layout. Part of the cache folder's name (:class:`CacheCell`)."""
    origin = origin or codec_origin(codec)
    layout = None
    if spec is not None:
        to_json = getattr(spec, "to_json", None)
        layout = to_json() if callable(to_json) else repr(spec)
    return Provenance(
        codec=codec.key,
        image_reader=IMAGE_READER,
        distribution=origin.distribution,
        version=origin.version,
        latent_layout=layout,
    )


#: Models loaded in this process, by codec and cache cell (which names the quality and
#: the weights' digest, so a model loaded for other weights is never reused).
_models: dict[tuple[str, str], Any] = {}

#: Environment variable that forces the workers' start method (``fork``, ``spawn``,
#: ``forkserver``).
START_METHOD_ENV = "JPEGAI_EVAL_START_METHOD"
#: Spawned workers import torch and load their models (2.5-3 s on 2 cores,
#: docs/benchmarks.md): below this many jobs per worker a spawned pool loses.
SPAWN_MIN_JOBS_PER_WORKER = 16


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _model_key(codec: Codec, cache: CacheCell) -> tuple[str, str]:
    return (codec.key, str(cache.root.name))


def default_workers() -> int:
    """The default ``--workers``: one single-threaded worker per core (at most 8).
    On 2 cores, 2 workers of 1 thread encode faster than 1 worker of 2 threads
    (docs/benchmarks.md); :func:`effective_workers` falls back to one in-process
    worker for stages too small to pay for a pool."""
    return max(1, min(8, usable_cores()))


def start_method() -> str:
    """``fork`` on Linux while neither CUDA nor TensorFlow is initialised in this
    process (both break in forked children), else ``spawn``; ``JPEGAI_EVAL_START_METHOD``
    overrides."""
    from jpegai_eval.framework.settings import value

    forced = value(START_METHOD_ENV)
    if forced:
        if forced not in multiprocessing.get_all_start_methods():
            raise UserError(
                f"{START_METHOD_ENV}={forced!r} is not a start method here; use one of "
                f"{', '.join(multiprocessing.get_all_start_methods())}."
            )
        return str(forced)
    if not sys.platform.startswith("linux"):
        return "spawn"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "spawn"
    if "tensorflow" in sys.modules:
        return "spawn"
    return "fork"


def effective_workers(workers: int, jobs: int, method: str | None = None) -> int:
    """How many processes to run ``jobs`` on when ``workers`` are asked for: never more
    than the CPU's cores or the jobs (an idle worker only costs), and one (in process)
    when spawned workers would spend longer starting than they save."""
    n = max(1, min(workers, usable_cores(), jobs))
    if n > 1 and (method or start_method()) != "fork":
        n = max(1, min(n, jobs // SPAWN_MIN_JOBS_PER_WORKER))
    return n


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass


def _latents_npz(latents: dict[str, Any]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v, dtype=np.float32) for k, v in latents.items()})
    return buffer.getvalue()


def encode_one(job: Job) -> EncodeOutcome:
    """Encode one image into its cache entry (or, when the job carries its bitstream,
    decode that); return the entry, or why it failed."""
    from jpegai_eval.framework.io.image_io import read_image
    from jpegai_eval.framework.quality.metrics import decode_trip, round_trip

    cached = job.cell.load(job.key)
    if cached is not None:
        if missing_metrics(job, cached):
            cached = add_metrics(job, cached)
        return EncodedEntry.from_meta(job.key, cached, reused=True)
    model = _model_for(job)
    # A file that cannot be read or coded (corrupt, too small or too large for the codec)
    # is reported with its path; the evaluator applies the corrupt-image policy.
    try:
        image = read_image(job.sample.path)
        if job.coded is None:
            r = round_trip(model, image)  # encode, then one staged decode: image and latents
        else:  # encoded in a batch: the same staged decode
            r = decode_trip(model, job.coded.data, job.coded.encode_time)
    except UserError as exc:
        return EncodeFailure(job.sample.id, f"{job.sample.path}: {exc.message}")
    except MemoryError:
        return EncodeFailure(
            job.sample.id,
            f"{job.sample.path}: out of memory while coding it with {job.codec.key}",
        )
    except Exception as exc:  # noqa: BLE001 - a codec library's own error on this image
        # (e.g. Pillow's "broken data stream" for a shape its encoder refuses): named, per
        # image, under the corrupt-image policy -- never a worker's traceback.
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return EncodeFailure(
            job.sample.id,
            f"{job.sample.path}: codec {job.codec.key} could not code it "
            f"({type(exc).__name__}: {first})",
        )
    return store_entry(job, model, image, r)


def _model_for(job: Job) -> Any:
    """The job's model: the one loaded in this process for its cell, else loaded now
    (a spawned worker), on the job's device."""
    # The cell folder names codec, backend, quality and the weights' digest, so a model
    # loaded for other weights is never reused.
    key = _model_key(job.codec, job.cell)
    model = _models.get(key)
    if model is None:
        model = load_model(job.codec, job.quality, job.weights, job.weights_dir, job.device)
        _models[key] = model
    return model


def store_entry(job: Job, model: Any, image: Any, r: Any) -> EncodedEntry:
    """Measure one coded image (``r``, a :class:`RoundTrip`) against its original and
    store its cache entry."""
    from jpegai_eval.framework.api.bitstream import bits_per_pixel
    from jpegai_eval.framework.io.image_io import encode_image
    from jpegai_eval.framework.quality.metrics import quality_metrics

    height, width = image.shape[:2]
    meta = {
        "id": job.sample.id,
        "label": job.sample.label,
        "height": height,
        "width": width,
        "bpp": bits_per_pixel(r.data, height, width),
        "encode_ms": 1000 * r.encode_time,
        "decode_ms": 1000 * r.decode_time,
        "latents_ms": None if r.latents_time is None else 1000 * r.latents_time,
        **quality_metrics(image, r.decoded),
        **extra_metrics(job.metrics, image, r.decoded),
    }
    choice = getattr(model, "last_choice", None)  # --target-bpp: what the search took
    if choice is not None:
        meta.update(choice.meta())
    latents_npz = None if r.latents is None else _latents_npz(r.latents)
    stored = job.cell.store(job.key, r.data, encode_image(r.decoded, ".png"), latents_npz, meta)
    return EncodedEntry.from_meta(job.key, stored, reused=False)


def unusable_images(
    samples: Iterable[Sample],
    codecs: Iterable[Codec],
    metrics: Iterable[Metric] = (),
    measured: Collection[str] = (),
) -> dict[str, str]:
    """Per sample id, why it cannot be used by every codec of the run: a file that is
    missing or not an image, or a size outside a codec's limits (:meth:`Codec.size_problem`:
    JPEG's and WebP's longest side, a learned codec's pixel cap and smallest side), or,
    for the samples in ``measured`` (those whose fidelity is measured), a size under a
    metric's smallest (:meth:`Metric.size_problem`: VMAF's 17 px). Read from the files'
    headers only, so that the corrupt-image policy applies before the first encode
    rather than after the work."""
    codecs, metrics, measured = list(codecs), list(metrics), set(measured)
    problems: dict[str, str] = {}
    for sample in samples:
        size = image_size(sample.path)
        if isinstance(size, str):
            problems[sample.id] = size
            continue
        checks: list[Codec | Metric] = [*codecs, *(metrics if sample.id in measured else ())]
        for check in checks:
            why = check.size_problem(*size)
            if why:
                problems[sample.id] = f"{sample.path}: {why}"
                break
    return problems


#: Metric ids whose values ``quality_metrics`` already gives (columns psnr, ms_ssim, ssim).
ALWAYS_COMPUTED = ("psnr_rgb", "ms_ssim_rgb", "ssim_rgb")


def extra_metrics(ids: tuple[str, ...], original: Any, decoded: Any) -> dict[str, float | None]:
    """The values of the registered metrics ``ids`` for one image, by column name, and
    ``metrics_ms``, the time they took; an unavailable metric's value is None."""
    import time

    from jpegai_eval.framework.api.metric_types import ImagePair, compute_metrics
    from jpegai_eval.framework.api.plugins import get_plugins

    wanted = [get_plugins().metrics.get(i) for i in ids if i not in ALWAYS_COMPUTED]
    if not wanted:
        return {}
    t0 = time.perf_counter()
    [values] = compute_metrics(wanted, [ImagePair(original, decoded)])
    out = {m.column_name: values.values.get(m.id) for m in wanted}
    out["metrics_ms"] = 1000 * (time.perf_counter() - t0)
    return out


def _lacking(ids: tuple[str, ...], meta: Mapping[str, object]) -> tuple[str, ...]:
    """The metrics of ``ids`` whose column a cache entry's metrics lack."""
    from jpegai_eval.framework.api.plugins import get_plugins

    registry = get_plugins().metrics
    return tuple(
        i for i in ids if i not in ALWAYS_COMPUTED and registry.get(i).column_name not in meta
    )


def missing_metrics(job: Job, meta: Mapping[str, object]) -> bool:
    """Whether a cached entry lacks a metric the job asks for."""
    return bool(job.metrics) and bool(_lacking(job.metrics, meta))


def add_metrics(job: Job, meta: Mapping[str, object]) -> EntryMeta:
    """Compute the metrics a cached entry lacks from its decoded image and rewrite its
    metrics file (atomically); return the entry's metrics."""
    import json

    from jpegai_eval.framework.io.image_io import atomic_write_bytes, read_image

    paths = job.cell.paths(job.key)
    todo = _lacking(job.metrics, meta)
    added = extra_metrics(todo, read_image(job.sample.path), read_image(paths["png"]))
    before = meta.get("metrics_ms")
    if added.get("metrics_ms") is not None and isinstance(before, int | float):
        added["metrics_ms"] = (added["metrics_ms"] or 0.0) + before
    updated = {**meta, **added}
    atomic_write_bytes(paths["json"], json.dumps(updated, sort_keys=True).encode())
    return updated


def make_jobs(cells: list[Cell], samples: Iterable[Sample]) -> list[Job]:
    samples = list(samples)
    keys = {s.id: image_key(s.id, file_digest(s.path)) for s in samples if s.path.is_file()}
    return [
        Job(
            c.codec,
            c.quality,
            c.weights,
            c.cache,
            s,
            keys.get(s.id, image_key(s.id, "missing")),
            c.weights_dir,
            device=c.device,
        )
        for c in cells
        for s in samples
    ]


def run_jobs(
    jobs: list[Job],
    workers: int,
    on_damaged: Callable[[Job, str], None] | None = None,
    encode_batch: int | None = None,
    on_batch_failed: Callable[[list[Job], str], None] | None = None,
) -> Iterator[tuple[Job, EncodeOutcome]]:
    """Yield (job, entry or failure) as jobs finish, over up to ``workers`` processes (see
    :func:`effective_workers`). A damaged cache entry (:meth:`CacheCell.check`) is
    redone, and ``on_damaged(job, why)`` is told. ``encode_batch`` (``--encode-batch``,
    see :func:`batch_size`) says which cells are encoded in batches in this process
    first; ``on_batch_failed(jobs, why)`` is told of a batch encoded one by one instead."""
    todo, fresh = [], []
    for job in jobs:
        cached, damage = job.cell.check(job.key)
        if cached is None or missing_metrics(job, cached):
            if damage is not None:
                for path in job.cell.paths(job.key).values():
                    path.unlink(missing_ok=True)  # the entry's own files, redone below
                if on_damaged is not None:
                    on_damaged(job, damage)
            todo.append(job)
            fresh.append(cached is None)  # to encode (not only to complete its metrics)
        else:
            yield job, EncodedEntry.from_meta(job.key, cached, reused=True)
    if not todo:
        return
    ready = with_batches(todo, fresh, encode_batch, on_batch_failed)
    method = start_method()
    workers = effective_workers(workers, len(todo), method)
    if workers <= 1:
        for job, prepared in zip(todo, ready, strict=True):
            yield job, encode_one(prepared)
        return
    threads = max(1, usable_cores() // workers)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(workers, initializer=_init_worker, initargs=(threads,)) as pool:
        # Jobs are ordered cell by cell, so each worker loads few models; one job per
        # task keeps the workers evenly busy (a job is ~0.1-1 s, its pickles ~1 KB, or
        # ~10-40 KB with its bitstream). The pool draws ``ready`` from its feeder thread,
        # so the next batch is encoded while the workers decode the last one.
        for job, result in zip(todo, pool.imap(encode_one, ready, chunksize=1), strict=True):
            yield job, result


def with_batches(
    todo: list[Job],
    fresh: list[bool],
    encode_batch: int | None,
    on_batch_failed: Callable[[list[Job], str], None] | None = None,
) -> Iterator[Job]:
    """``todo`` in order, with the bitstream of each ``fresh`` job of a batched cell
    (:func:`batch_size`) encoded here, a batch at a time (:func:`encode_chunk`)."""
    import itertools

    indexed = zip(todo, fresh, strict=True)
    for key, group in itertools.groupby(indexed, key=lambda p: _model_key(p[0].codec, p[0].cell)):
        pairs = list(group)
        size = batch_size(_models.get(key), encode_batch)
        if size <= 1:
            yield from (job for job, _ in pairs)
            continue
        for start in range(0, len(pairs), size):
            chunk = pairs[start : start + size]
            wanted = [job for job, new in chunk if new]
            coded = iter(encode_chunk(_models[key], wanted, on_batch_failed))
            yield from (next(coded) if new else job for job, new in chunk)


def encode_chunk(
    model: Any,
    jobs: list[Job],
    on_failed: Callable[[list[Job], str], None] | None = None,
) -> list[Job]:
    """``jobs`` with the bitstreams of their images, encoded together with
    ``model.encode_batch``; each is charged an equal share of the batch's wall time. A
    file that cannot be read, or whose size the codec refuses, is left without one: its
    worker encodes it alone and reports the failure with its path. When the batch
    fails as a whole, every job is left without one (``on_failed(jobs, why)`` is told)."""
    import time

    from jpegai_eval.framework.api.types import check_size
    from jpegai_eval.framework.io.image_io import read_image

    images, places = [], []
    for i, job in enumerate(jobs):
        try:
            image = read_image(job.sample.path)
            check_size(image, job.codec)
        except Exception:  # noqa: BLE001, S112 - said by its worker, with its path
            continue
        images.append(image)
        places.append(i)
    if not images:
        return jobs
    t0 = time.perf_counter()
    try:
        files = model.encode_batch(images, batch_size=len(images))
    except Exception as exc:  # noqa: BLE001 - each image then fails (or not) on its own
        if on_failed is not None:
            on_failed(jobs, f"{type(exc).__name__}: {exc}")
        return jobs
    share = (time.perf_counter() - t0) / len(images)
    out = list(jobs)
    for i, data in zip(places, files, strict=True):
        out[i] = replace(jobs[i], coded=Coded(data, share))
    return out
