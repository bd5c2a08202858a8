"""What a run will do, resolved and checked before any heavy work starts.

:func:`make_plan` turns the user's options into codecs, qualities, a task and anchors,
and raises a :class:`UserError` for anything that names nothing known: an unknown codec,
backend, task, anchor or quality, or an anchor that needs a compressed domain on a codec
without one. :func:`check_classes` refuses a dataset that a classifier cannot be
measured on (fewer than two classes), once its samples are listed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import cast

from jpegai_eval.framework.api.plugins import Plugins
from jpegai_eval.framework.api.types import Anchor, Codec, Sample, Task, checked_latent_spec
from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.framework.io.json_types import Scalar
from jpegai_eval.framework.run.run_json import RunConfigJson

PAPER_QUALITIES = (1, 4, 8)


@dataclass
class RunConfig:
    """Everything that determines a run's results (and so its output folder)."""

    codecs: list[str]
    task: str
    backend: str | None = None
    qualities: list[int] | None = None
    anchors: list[str] | None = None
    #: The task's dataset options by name (its TaskOption declarations), e.g.
    #: ``{"data_root": "~/minc-2500", "split_number": 1}``; the plan fills in defaults.
    task_options: dict[str, Scalar] = field(default_factory=dict)
    weights: str | None = None
    preset: str = "paper"
    seed: int = 0
    imagenet_weights: str | None = None
    # Settings that change speed, not results: kept out of the fingerprint.
    device: str = "auto"
    workers: int = 2
    #: Where pretrained weights are looked up (the weights' digest keys the cache).
    weights_dir: str | None = None
    #: Corrupt-image policy: False (default) stops the run naming the unreadable files;
    #: True leaves them out and lists them in run.json and the report.
    skip_bad_images: bool = False
    #: Under torchrun: every rank trains each classifier together (data parallel, the
    #: preset's batch split over the ranks) instead of ranks taking whole classifiers.
    #: The same recipe, so not part of the fingerprint; a no-op for one process.
    ddp: bool = False
    #: ``--deterministic`` / ``--no-deterministic`` (None: the device's default, see
    #: :mod:`~jpegai_eval.framework.run.training_mode`). Like ``device``, a setting of how
    #: fast, kept out of the fingerprint; run.json records the mode.
    deterministic: bool | None = None
    #: Fidelity metrics of the test images (``--metrics``: fast, jpegai, all or ids).
    #: They add columns, never change other results: not part of the fingerprint (a
    #: rerun with more metrics computes the missing ones on the cached entries).
    metrics: str = "fast"
    #: The anchor codec of bd_metrics.csv (``--bd-anchor``; None: jpeg when present).
    #: A report setting: not part of the fingerprint.
    bd_anchor: str | None = None
    #: ``--target-bpp``: compare every codec at these rates (one cell per target, the
    #: codec searched per image; :mod:`jpegai_eval.framework.run.rate_points`) instead of
    #: at its qualities.
    target_bpp: list[float] | None = None
    #: ``--encode-batch``: images a CompressAI hyperprior encodes per batch (None: 16 on a
    #: GPU, one by one on the CPU; 0 or 1: one by one). A setting of how fast, kept out
    #: of the fingerprint; run.json's ``encode`` records what each cell used.
    encode_batch: int | None = None

    RESULT_KEYS = (
        "codecs",
        "task",
        "backend",
        "qualities",
        "anchors",
        "task_options",
        "weights",
        "preset",
        "seed",
        "imagenet_weights",
    )

    def fingerprint(self) -> str:
        """A hash of the settings that determine results: a rerun with another one
        in the same output folder is refused (unless forced)."""
        values = {k: getattr(self, k) for k in self.RESULT_KEYS}
        if self.target_bpp is not None:  # absent otherwise: older run folders still match
            values["target_bpp"] = self.target_bpp
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> RunConfigJson:
        """The configuration as ``run.json``'s ``config`` (every field, by name)."""
        return cast(RunConfigJson, asdict(self))

    def weights_for(self, codec: Codec) -> str | None:
        """The --weights value for ``codec``: one value for every codec, or a
        comma-separated ``KEY=VALUE`` list whose keys are backends, codec ids or
        ``id/backend`` or a codec's alias (e.g. ``compressai=demo,tfc=~/metagraphs``)."""
        if not self.weights or "=" not in self.weights:
            return self.weights
        table = {}
        for part in self.weights.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise UsageError(
                    f"--weights {self.weights!r} mixes KEY=VALUE with plain values; give "
                    "one value, or KEY=VALUE pairs such as compressai=demo,tfc=DIR."
                )
            table[key.strip()] = value.strip()
        for key in (codec.key, codec.id, *codec.aliases, codec.backend):
            if key in table:
                return table[key]
        return None


@dataclass
class CodecPlan:
    codec: Codec
    qualities: list[int]

    @property
    def label(self) -> str:
        return self.codec.key


@dataclass(frozen=True)
class Plan:
    """What a run does, resolved and checked before any work: the configuration (the
    task's options filled in), the task, the codecs and their qualities, the anchors.
    The evaluator completes it once (:func:`dataclasses.replace`) with what the task
    says after listing the dataset; nothing changes it after that."""

    config: RunConfig
    task: Task
    codecs: list[CodecPlan]
    anchors: list[Anchor]
    notes: list[str] = field(default_factory=list)
    #: anchor id -> the anchor whose classifier it uses (itself, unless it reuses one)
    trainers: dict[str, Anchor] = field(default_factory=dict)
    #: What the classifiers start from (Task.classifier_init): a checkpoint or None, and
    #: its description; filled in by the evaluator before the output folder is touched.
    init_weights: str | None = None
    init_label: str = "from scratch"
    #: Under ``--ddp`` with several ranks: the task's data-parallel rule
    #: (Task.data_parallel), filled in by the evaluator; None: ranks take whole
    #: classifiers.
    data_parallel: Mapping[str, object] | None = None
    #: The ids of the metrics ``--metrics`` selects that can run here, in order.
    metric_ids: list[str] = field(default_factory=list)

    def anchors_for(self, codec: Codec) -> list[Anchor]:
        """Per-quality anchors that this codec can run."""
        return [
            a
            for a in self.anchors
            if a.per_quality and (codec.has_compressed_domain or not a.needs_compressed_domain)
        ]

    @property
    def global_anchors(self) -> list[Anchor]:
        """Anchors that run once per task (anchor 3)."""
        return [a for a in self.anchors if not a.per_quality]


def _parse_codec(text: str, default_backend: str | None) -> tuple[str, str | None]:
    if "/" in text:
        codec_id, backend = text.split("/", 1)
        return codec_id, backend
    return text, default_backend


def make_plan(config: RunConfig, plugins: Plugins) -> Plan:
    """Resolve and check every name in ``config``; raise a UserError on the first problem.

    The plan's config is a copy of ``config`` whose ``task_options`` hold every option
    the task declares (given values converted and checked, the rest their defaults),
    so that the fingerprint and run.json do not depend on how an option was given."""
    if not config.codecs:
        raise UsageError("No codec given: pass --codec ID (see `jpegai-eval plugins`).")
    codecs: list[Codec] = []
    for text in config.codecs:
        codec = plugins.codecs.resolve(*_parse_codec(text, config.backend))
        if codec.key in [c.key for c in codecs]:
            raise UsageError(f"Codec {codec.key} is given twice; give each codec once.")
        codecs.append(codec)
    task = plugins.tasks.get(config.task)
    config = replace(config, task_options=task.resolve_options(config.task_options))
    if task.presets and config.preset not in task.presets:
        raise UsageError(
            f"Task {task.id!r} has no preset {config.preset!r}; its presets are "
            f"{', '.join(task.presets)}."
        )
    explicit_anchors = config.anchors is not None
    anchor_ids = config.anchors if explicit_anchors else [a.id for a in plugins.anchors]
    anchors = [plugins.anchors.get(a) for a in anchor_ids]  # type: ignore[union-attr]
    trainers = {
        a.id: plugins.anchors.get(a.reuses_classifier_of) if a.reuses_classifier_of else a
        for a in anchors
    }

    plans: list[CodecPlan] = []
    notes: list[str] = []
    if config.target_bpp is not None:
        from jpegai_eval.framework.run.rate_points import TargetRateCodec

        if config.qualities is not None:
            raise UsageError(
                "Give either --qualities (each codec at its own quality steps) or "
                "--target-bpp (every codec at the same rates), not both."
            )
        codecs = [TargetRateCodec(c, config.target_bpp) for c in codecs]
    for codec in codecs:
        if config.target_bpp is not None:
            qualities = list(codec.qualities)
        elif config.qualities is None:
            qualities = [q for q in PAPER_QUALITIES if q in codec.qualities] or list(
                codec.qualities
            )
        else:
            repeated = sorted({q for q in config.qualities if config.qualities.count(q) > 1})
            if repeated:
                raise UsageError(
                    f"--qualities names quality {', '.join(map(str, repeated))} more than "
                    f"once ({','.join(map(str, config.qualities))}); each would be a "
                    "separate row of the same codec x quality. Give each quality once, "
                    "e.g. --qualities "
                    f"{','.join(map(str, sorted(set(config.qualities))))}."
                )
            qualities = [codec.check_quality(q) for q in config.qualities]
        plans.append(CodecPlan(codec, qualities))
        needs_latents = [a.id for a in anchors if a.per_quality and a.needs_compressed_domain]
        if needs_latents and codec.has_compressed_domain:
            for q in qualities:  # a malformed compressed domain stops the run here
                checked_latent_spec(codec, q, config.weights_for(codec))
        if needs_latents and not codec.has_compressed_domain:
            if explicit_anchors and len(codecs) == 1:
                raise UsageError(
                    f"Anchor {', '.join(needs_latents)} needs a compressed domain, but codec "
                    f"{codec.key} only decodes to pixels. Drop it from --anchors, or choose "
                    "a learned codec such as hyperprior-msssim."
                )
            notes.append(
                f"Codec {codec.key} has no compressed domain: skipping anchor "
                f"{', '.join(needs_latents)} for it."
            )
    metric_ids = plan_metrics(config.metrics, plugins, notes)
    return Plan(config, task, plans, anchors, notes, trainers, metric_ids=metric_ids)


def plan_metrics(spec: str, plugins: Plugins, notes: list[str]) -> list[str]:
    """The ids of the metrics ``spec`` selects. One named by id that cannot run here is
    an error; one a set (``jpegai``, ``all``) brings is left out with a note saying why."""
    from jpegai_eval.framework.api.metric_types import (
        MetricUnavailableError,
        select_metrics,
        spec_names,
    )

    chosen = select_metrics(spec, plugins.metrics)
    named = set(spec_names(spec))
    ids = []
    for metric in chosen:
        if not metric.unavailable_reason:
            ids.append(metric.id)
        elif metric.id in named:
            raise MetricUnavailableError(
                f"Metric {metric.id!r} cannot run here: {metric.unavailable_reason}. Install "
                "what it needs, or leave it out of --metrics."
            )
        else:
            notes.append(f"Metric {metric.id} is unavailable: {metric.unavailable_reason}")
    return ids


def config_from_json(path: Path) -> RunConfig:
    data = json.loads(Path(path).read_text())["config"]
    return RunConfig(**{k: v for k, v in data.items() if k in RunConfig.__dataclass_fields__})


#: A classifier needs at least this many classes for its accuracy to mean anything.
MIN_CLASSES = 2


def check_classes(task: Task, samples: dict[str, list[Sample]]) -> None:
    """Refuse, before any work, a task whose classifiers would have fewer than
    :data:`MIN_CLASSES` classes, or whose training split holds fewer than that many:
    with one class every prediction is right and Top-1 reads 100%."""
    classes = tuple(task.classes)
    train = samples.get("train", [])
    present = sorted({s.label for s in train})
    if len(classes) >= MIN_CLASSES and len(present) >= MIN_CLASSES:
        return
    if len(classes) < MIN_CLASSES:
        what = f"has {len(classes)} class{'' if len(classes) == 1 else 'es'} {list(classes)}"
    else:
        names = [classes[i] if 0 <= i < len(classes) else str(i) for i in present]
        what = f"has training images of {len(present)} class(es) only {names}"
    first = train[0].path if train else None
    where = f" (first training image: {str(first)!r})" if first else ""
    raise DatasetError(
        f"The dataset of task {task.id!r} {what}{where}; a classifier needs at least "
        f"{MIN_CLASSES} classes, or every prediction is right and Top-1 reads 100%. "
        "Point the task at a dataset with two or more classes, each with training images."
    )
