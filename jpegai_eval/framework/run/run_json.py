"""The shapes of ``run.json``'s parts, as TypedDicts: what the run is (:class:`RunSetup`,
with its :class:`RunConfigJson` and :class:`DeterminismJson`), each rank's part
(:class:`RankRecord`) and what a finished run says of its results
(:class:`RunOutcome`). A leaf module: the writers (evaluator, plan, run folder, run
record) import it, it imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict

from jpegai_eval.framework.io.json_types import Scalar
from jpegai_eval.framework.run.training_mode import TrainingModeJson


class RunConfigJson(TypedDict):
    """:class:`~jpegai_eval.framework.run.plan.RunConfig` as ``run.json``'s ``config``:
    its fields (a test checks that the two name the same keys)."""

    codecs: list[str]
    task: str
    backend: str | None
    qualities: list[int] | None
    anchors: list[str] | None
    task_options: dict[str, Scalar]
    weights: str | None
    preset: str
    seed: int
    imagenet_weights: str | None
    device: str
    workers: int
    weights_dir: str | None
    skip_bad_images: bool
    ddp: bool
    deterministic: bool | None
    metrics: str
    bd_anchor: str | None
    target_bpp: list[float] | None
    encode_batch: int | None


class EncodeModeJson(TypedDict):
    """How one cell's images were encoded: images per ``encode_batch`` call (1: one by
    one, in the workers) and the device of the codec's model."""

    batch: int
    device: str


class DeterminismJson(TypedDict):
    """``run.json``'s ``determinism``: what ``--seed`` guarantees, and why."""

    seeded: str
    deterministic_algorithms: bool
    torch_threads: int
    training_mode: TrainingModeJson
    guarantee: NotRequired[str]


class RatePointsJson(TypedDict):
    """``run.json``'s ``rate_points`` under ``--target-bpp``: the targets and the rule."""

    target_bpp: list[float]
    rule: str
    tolerance: float


class RunSetup(TypedDict):
    """What the run is, as ``run.json`` records it (written by the evaluator)."""

    config: RunConfigJson
    fingerprint: str
    qualities: dict[str, list[int]]
    codec_descriptions: dict[str, str]
    codec_origins: dict[str, dict[str, str]]
    rate_points: RatePointsJson | None
    anchors: list[str]
    versions: dict[str, str]
    git_commit: str | None
    determinism: DeterminismJson
    corrupt_image_policy: str
    notes: list[str]
    classifier_init: str
    world_size: int
    #: ``--ddp``: the task's data-parallel rule; False without it
    ddp: Mapping[str, object] | bool
    #: per codec x quality point (``id-backend-point``), how its images were encoded
    encode: dict[str, EncodeModeJson]


class RankRecord(TypedDict):
    """One rank's part of ``run.json``'s ``ranks``: the images it encoded now, the
    classifiers it trained and evaluated, its seconds."""

    rank: int
    local_rank: int
    host: str
    device: str
    items_encoded: int
    #: ``--ddp``: per classifier trained together, this rank's part (the task's record
    #: of the images and steps it processed) and the digest of the model it ended with
    data_parallel: NotRequired[dict[str, Mapping[str, object]]]
    classifiers: NotRequired[list[str]]
    classifiers_trained: NotRequired[list[str]]
    seconds: NotRequired[float]


class LatentInput(TypedDict):
    """A compressed-domain classifier's input, from its ``meta.json``: the LatentSpec it
    read (:meth:`LatentSpec.to_json`), the side of its input and its C x h x w."""

    latent_spec: object
    latent_input: object
    input: object


class RunOutcome(TypedDict):
    """What ``run.json`` says of a finished run's results."""

    cells: list[str]
    latent_inputs: dict[str, LatentInput]
    n_classes: int
    device: str
    provider: str
    onnxruntime_cuda_fallback: list[str]
    skipped_images: dict[str, str]
    finished: str
