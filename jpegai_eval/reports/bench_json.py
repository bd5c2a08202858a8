"""The shape of ``bench.json``: what :mod:`jpegai_eval.bench.measure` writes and
:mod:`jpegai_eval.reports.bench_summary` reads, one TypedDict per section.

Keys whose names carry a number (an encode-stage run's ``wall_<N>_images``) cannot be
named here; those two records are typed by what their values can be.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict

from jpegai_eval.framework.run.training_mode import TrainingModeJson


class Stats(TypedDict):
    """Median, p10 and p90 of timed samples in milliseconds, and every sample."""

    n: int
    median_ms: float | None
    p10_ms: float | None
    p90_ms: float | None
    samples_ms: list[float]


class Judgement(TypedDict):
    """One target of issue #8: the measured value and whether it passed."""

    value: float | None
    target: float
    op: str
    passed: bool | None
    what: str


class MachineInfo(TypedDict):
    """Where the bench ran: platform, libraries, threads, device, load."""

    platform: str
    processor: str
    cpu_count: int | None
    load_average_start: list[float] | None
    python: str
    jpegai_eval: str
    torch: str
    onnxruntime: str
    numpy: str
    threads: int
    torch_threads: int
    cuda: str | None
    device: str
    ort_providers: list[str]
    ort_allow_spinning: bool
    rans_decoder: str
    OMP_WAIT_POLICY: str | None
    OMP_NUM_THREADS: str | None
    load_average_end: NotRequired[list[float] | None]


class StagedCheck(TypedDict):
    """The staged decode against the codec's own decode and latents."""

    decoded_max_abs_diff: int
    y_hat_equal: bool
    sigma_hat_max_abs_diff: float


class BitstreamSummary(TypedDict):
    """Rate of the bench's bitstreams and the entropy-decoded symbols of y_hat."""

    images: int
    size: int
    padded: list[int]
    bpp_mean: float
    bytes_mean: float
    y_symbols: int


class PipelineTimes(TypedDict):
    """One pipeline's per-image stage statistics (``total`` included)."""

    per_image: dict[str, Stats]


class InferenceBatch(TypedDict):
    """Section 1 at one batch size."""

    reps: int
    warmup: int
    pipelines: dict[str, PipelineTimes]
    best_transforms: dict[str, str]
    pixel_over_compressed: dict[str, float | None]


class InferenceMacs(TypedDict):
    """Multiply-accumulates per stage and per pipeline."""

    stages: dict[str, int]
    pixel: int
    compressed: int
    pixel_over_compressed: NotRequired[float | None]


class InferenceSection(TypedDict):
    """Section 1 for one quality: both pipelines per batch size, and their MACs."""

    batches: dict[str, InferenceBatch]
    macs: InferenceMacs


class MetricCost(TypedDict, total=False):
    """One registered metric's cost, or why it could not run."""

    unavailable: str
    ms_per_image: float
    ms_per_mpx: float


class MetricSet(TypedDict):
    """What a ``--metrics`` set (fast, jpegai) costs together."""

    metrics: list[str]
    #: the set in one pass, as a run pays it (shared colour conversion once)
    ms_per_image: float
    #: the per-metric figures summed (each with its own colour conversion)
    summed_ms_per_image: float
    over_encode: float | None


class MetricsSection(TypedDict):
    """Each registered metric's cost on this quality's pairs, and the sets'."""

    images: int
    size: int
    reps: int
    encode_ms_per_image: float
    metrics: dict[str, MetricCost]
    sets: dict[str, MetricSet]


class QualityEntry(TypedDict):
    """Everything measured at one quality."""

    weights: str
    N: int
    M: int
    bitstreams: NotRequired[BitstreamSummary]
    provider: NotRequired[str]
    checks: NotRequired[dict[str, StagedCheck]]
    inference: NotRequired[InferenceSection]
    metrics: NotRequired[MetricsSection]


class ClassifierBatch(TypedDict):
    """Section 2 at one batch size: each model per runtime, and the ratios."""

    reps: int
    warmup: int
    models: dict[str, Stats]
    torch_over_onnxruntime: dict[str, float | None]


class ClassifiersSection(TypedDict):
    """Section 2: onnxruntime against PyTorch eager on the same inputs."""

    batches: dict[str, ClassifierBatch]
    macs: dict[str, int]
    provider: str
    torch_device: str
    quality: NotRequired[int]
    cresnet39_input_channels: NotRequired[int]


class EncodeOverhead(TypedDict):
    """The plugin's encode against CompressAI's compress, per image."""

    images: int
    per_image: dict[str, Stats]
    overhead: float | None


#: One worker count's encode-stage record: ``wall_<N>_images`` and ``wall_<N/2>_images``
#: (Stats), ``images_per_s_including_startup`` / ``_excluding_startup`` and
#: ``startup_s_estimate`` (numbers or None), ``effective_workers`` (images -> workers),
#: ``threads_per_worker`` and ``per_job`` (stage -> Stats).
WorkersEntry = dict[str, Stats | float | None | dict[str, int] | dict[str, Stats]]

#: The raw CompressAI loop's record: ``wall_<N>_images`` (Stats), ``images_per_s``,
#: ``threads``.
RawLoopEntry = dict[str, Stats | float]


class EncodeStageSummary(TypedDict):
    """The encode stage's throughput per worker count, against the raw loop."""

    images: int
    half: int
    reps: int
    start_method: str
    workers: dict[str, WorkersEntry]
    speedup_2_over_1: NotRequired[dict[str, float | None]]
    raw_compressai: RawLoopEntry
    over_raw: NotRequired[float | None]
    note: str


class EncodeSection(TypedDict):
    """Section 3: the plugin's encode overhead and the encode stage's throughput."""

    quality: int
    images: int
    per_image: dict[str, Stats]
    overhead: float | None
    encode_stage: EncodeStageSummary


#: ``loader_per_core``: the training loader's images/s on one core, two ways; ``pass``
#: (a Python keyword, hence this form) holds each loader path's pass statistics.
LoaderJson = TypedDict(
    "LoaderJson",
    {
        "preset": str,
        "images": int,
        "image_size": int,
        "resize": int,
        "batch": int,
        "reps": int,
        "warmup": int,
        "threads": int,
        "workers": int,
        "images_per_s": dict[str, float],
        "decode_once_over_old": float,
        "pass": dict[str, Stats],
        "decode_once_build_s": float,
        "same_batches": bool,
    },
)


class TrainSpeedJson(TypedDict):
    """``train_over_bare``: the framework's training loop against a bare one."""

    preset: str
    model: str
    width: float
    input_size: int
    batch: int
    steps: int
    reps: int
    warmup: int
    device: str
    workers: int
    training_mode: TrainingModeJson
    images_per_s: dict[str, float]
    value: float | None
    with_loading: float
    #: The bare loop with the framework's kernels over the same loop with fast ones.
    deterministic_over_fast_kernels: float
    per_image: dict[str, Stats]


class TrainingSection(TypedDict):
    """The training section: the loader per core and the training loop."""

    loader_per_core: LoaderJson
    train_over_bare: TrainSpeedJson


class BenchResult(TypedDict):
    """``bench.json``. A file written by ``--section`` holds only its sections."""

    schema: str
    created: str
    #: the BenchConfig's fields, as given
    config: Mapping[str, object]
    machine: MachineInfo
    codec: str
    qualities: dict[str, QualityEntry]
    classifiers: NotRequired[ClassifiersSection]
    encode: NotRequired[EncodeSection]
    training: NotRequired[TrainingSection]
    seconds: NotRequired[float]
    targets: NotRequired[dict[str, Judgement]]
