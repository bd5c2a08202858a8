"""The evaluator: the codec x quality x anchor matrix of ``jpegai-eval run``.

Stages (DESIGN.md, "Data flow"):

1. plan: resolve codecs, qualities, task and anchors; refuse an output folder that
   holds another configuration; check weights and disk space -- before heavy work;
2. encode: every image of every split once per codec x quality into the cache;
3. train: one classifier per distinct (domain, training data) the anchors need --
   anchor 3's on originals once, anchor 2's on decoded images and the compressed
   anchor's on latents per codec x quality; anchor 1 reuses anchor 3's;
4. evaluate: export each classifier to ONNX, check parity with PyTorch, run the test
   split through ONNX Runtime;
5. write ``results.csv``, ``per_image.csv``, ``run.json`` and the report writers.

Every finished step leaves a file behind (cache entries, classifier folders, cell
results) written atomically, so rerunning with the same output folder resumes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import numbers
import os
import platform
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jpegai_eval.framework.api.plugins import get_plugins
from jpegai_eval.framework.api.types import Sample, latent_spec_error
from jpegai_eval.framework.errors import DatasetError, UserError
from jpegai_eval.framework.io.image_io import TEMP_PREFIX, is_temporary
from jpegai_eval.framework.io.progress import progress
from jpegai_eval.framework.run import distributed, onnx_runtime
from jpegai_eval.framework.run.encode_stage import (
    codec_device,
    codec_origin,
    encode_mode,
    unusable_images,
)
from jpegai_eval.framework.run.needs import check_offline
from jpegai_eval.framework.run.plan import Plan, RunConfig, check_classes, make_plan
from jpegai_eval.framework.run.records import (
    Classified,
    Encoded,
    EncodedEntry,
    EncodeFailure,
    PointKey,
    ResultRow,
)
from jpegai_eval.framework.run.run_json import (
    EncodeModeJson,
    LatentInput,
    RankRecord,
    RatePointsJson,
    RunOutcome,
    RunSetup,
)
from jpegai_eval.framework.run.run_record import RunRecord, git_commit, mark_stopped, versions
from jpegai_eval.framework.run.runfolder import (
    ORIGINAL_COPIES,
    SPLITS,
    CellId,
    RunFolder,
    classifier_name,
    determinism,
    log,
    point_name,
    resolve_device,
)
from jpegai_eval.framework.run.runlock import LOCK_NAME, RunLock, describe_holder


@dataclass
class RunResult:
    out_dir: Path
    reports: list[Path] = field(default_factory=list)
    rows: list[ResultRow] = field(default_factory=list)


# ------------------------------------------------------------------------ output folder


def default_out_dir(config: RunConfig) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return (
        Path("runs")
        / f"{'+'.join(c.replace('/', '_') for c in config.codecs)}-{config.task}-{stamp}"
    )


#: What a run folder holds besides ``run.json``: a folder holding anything else (and
#: no ``run.json``) is not a run folder, and no flag makes the tool write into it.
RUN_FOLDER_OWN = (LOCK_NAME, "run.log")


def _refuse_unsafe_out_dir(out_dir: Path) -> None:
    """``/`` and the home folder are never an output folder, whatever the flags."""
    resolved = out_dir.resolve()
    home = Path.home().resolve()
    what = "your home folder" if resolved == home else "the root folder"
    if resolved == Path(resolved.anchor) or resolved == home:
        raise UserError(
            f"--out {str(out_dir)!r} is {what}: a run writes (and on resume cleans up) "
            "inside its output folder, so it must be a folder of its own. Give a new "
            "folder, e.g. --out runs/my-study."
        )


def _foreign(out_dir: Path) -> list[str]:
    """Names in ``out_dir`` that a run did not write (for a folder without run.json)."""
    return sorted(
        p.name
        for p in out_dir.iterdir()
        if p.name not in RUN_FOLDER_OWN
        and not p.name.startswith("run.rank")
        and not is_temporary(p)
    )


def claim_out_dir(out_dir: Path, config: RunConfig, force: bool) -> Mapping[str, object]:
    """Create ``out_dir`` or check that it holds this configuration; return run.json
    as read (empty for a new folder).

    ``--force`` reuses a run folder of another configuration (or with a damaged
    ``run.json``); it never makes a folder that is not a run folder usable."""
    _refuse_unsafe_out_dir(out_dir)
    run_json = RunFolder(out_dir).run_json
    if run_json.exists():
        try:
            previous: Any = json.loads(run_json.read_text())
            problem = (
                f"it holds a JSON {type(previous).__name__}, not an object"
                if not isinstance(previous, dict)
                else None
                if "fingerprint" in previous
                else "it names no configuration fingerprint"
            )
        except (OSError, ValueError) as exc:
            previous, problem = {}, f"it is not readable JSON ({str(exc)[:80]})"
        if problem is not None:
            if not force:
                raise UserError(
                    f"{str(run_json)!r} is not a jpegai-eval run record: {problem}. If "
                    "this folder is a damaged "
                    "jpegai-eval run, pass --force to start its run record afresh (cache "
                    "entries and classifiers are validated and reused); otherwise give "
                    "another --out."
                )
            previous = {}
        theirs = previous.get("fingerprint")
        if previous and theirs != config.fingerprint() and not force:
            raise UserError(
                f"Output folder {str(out_dir)!r} holds a run of another configuration "
                f"(fingerprint {theirs}, this one {config.fingerprint()}). Give another "
                "--out, or pass --force to reuse it (its finished cells are kept only "
                "where they still match)."
            )
        record: Mapping[str, object] = previous
        return record
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(
            f"--out {str(out_dir)!r} is a file, not a folder. Give a new or empty folder."
        )
    if out_dir.exists():
        foreign = _foreign(out_dir)
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            raise UserError(
                f"Output folder {str(out_dir)!r} is not empty and holds no run.json, so it "
                f"is not a jpegai-eval run folder (it holds {shown}). A run writes only "
                "into a new or empty folder, or into a run folder of its own; --force does "
                "not change that. Give a new or empty --out."
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    return {}


def check_disk(out_dir: Path, n_entries: int, sample: Sample | None, classifiers: int = 0) -> None:
    """Refuse to start when the cache and ``classifiers`` bytes clearly will not fit."""
    pixels = 0
    if sample is not None and n_entries:
        try:
            from PIL import Image

            from jpegai_eval.framework.io.image_io import no_bomb_warning

            with no_bomb_warning(), Image.open(sample.path) as img:
                pixels = img.width * img.height
        except (OSError, ValueError, Image.DecompressionBombError):
            pass  # the encode stage names an unreadable image
    # decoded PNG (~3 B/px at worst) + latents (~0.5 B/px) + bitstream
    needed = int(n_entries * pixels * 4) + classifiers
    if needed == 0:
        return
    existing = next(p for p in [out_dir, *out_dir.resolve().parents] if os.path.exists(p))
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return  # the output folder's own checks report an unusable --out
    if free < needed:
        raise UserError(
            f"Not enough free disk for the encode cache and the classifiers in "
            f"{str(out_dir)!r}: about "
            f"{needed / 2**30:.1f} GiB needed, {free / 2**30:.1f} GiB free. Free some "
            "space or give another --out."
        )


def classifier_bytes(plan: Plan, cells: dict[tuple[str, int], Any]) -> int:
    """Disk the classifiers need: each keeps ``model.pt`` and ``model.onnx`` (4 bytes a
    parameter each), and while one trains its checkpoint (weights and SGD momentum) and
    the checkpoint's temporary copy need 4 times that again."""
    from jpegai_eval.framework.run.runfolder import classifier_name

    params: dict[Any, int] = {}
    names = set()
    largest = 0
    for cell in matrix(plan):
        names.add(classifier_name(cell.anchor, cell.codec, cell.quality, plan))
        domain = cell.anchor.domain
        spec = None
        if domain == "latent" and cell.codec is not None and cell.quality is not None:
            spec = cells[(cell.codec.key, cell.quality)].latent_spec
        if (domain, repr(spec)) not in params:
            model = plan.task.classifier_for(domain, spec, plan.config.preset)
            params[(domain, repr(spec))] = sum(
                int(p.numel()) for p in getattr(model, "parameters", lambda: [])()
            )
        largest = max(largest, params[(domain, repr(spec))])
    return len(names) * 2 * 4 * max(params.values(), default=0) + 4 * 4 * largest


def sweep_temporaries(out_dir: Path) -> int:
    """Delete the temporary files a killed run left in its folder: files named
    ``.jpegai-eval-tmp-*`` (the only name the tool's atomic writes and checkpoints
    use), at the top of the folder and in its own subfolders; call with the run lock
    held. Nothing else is touched. Return how many."""
    count = 0
    candidates = [p for p in out_dir.iterdir() if p.is_file()]
    for sub in RunFolder.WRITTEN_FOLDERS:
        if (out_dir / sub).is_dir():
            candidates += [p for p in (out_dir / sub).rglob(f"{TEMP_PREFIX}*") if p.is_file()]
    for path in candidates:
        if is_temporary(path) and not path.is_symlink():
            path.unlink(missing_ok=True)
            count += 1
    return count


# ------------------------------------------------------------------------------ stages


def open_cells(plan: Plan, out_dir: Path, device: str = "cpu") -> dict[tuple[str, int], Any]:
    """Load every codec x quality once, so that missing or wrong weights fail before
    any work (or any output file) is made; the models that encode in batches on
    ``device`` (see :func:`~jpegai_eval.framework.run.encode_stage.codec_device`)."""
    from jpegai_eval.framework.run.encode_stage import open_cell

    config = plan.config
    cells = {
        (cp.codec.key, q): open_cell(
            cp.codec,
            q,
            config.weights_for(cp.codec),
            RunFolder(out_dir).cache,
            config.weights_dir,
            device,
        )
        for cp in plan.codecs
        for q in cp.qualities
    }
    for cp in plan.codecs:  # a compressed-domain anchor needs a spec from the weights
        if any(a.needs_compressed_domain for a in plan.anchors_for(cp.codec)):
            for q in cp.qualities:
                if cells[(cp.codec.key, q)].latent_spec is None:
                    raise latent_spec_error(cp.codec, q, "is None, also once loaded")
    return cells


def encode_stage(
    plan: Plan,
    samples: dict[str, list[Sample]],
    out_dir: Path,
    cells: dict[PointKey, Any],
) -> Encoded:
    """Every image of every split once per codec x quality into the cache (this rank's
    block of them); the entries the other ranks wrote are read back."""
    from dataclasses import replace as dc_replace

    from jpegai_eval.framework.run.encode_stage import make_jobs, run_jobs

    config = plan.config
    everything = [s for split in SPLITS for s in samples[split]]
    jobs = make_jobs(list(cells.values()), everything)
    if plan.metric_ids:  # --metrics: computed for the test images, where they are reported
        test_ids = {s.id for s in samples["test"]}
        metric_ids = tuple(plan.metric_ids)
        jobs = [dc_replace(j, metrics=metric_ids) if j.sample.id in test_ids else j for j in jobs]
    mine = distributed.share(jobs)  # this rank's block, cell by cell (all of them alone)
    entries: dict[PointKey, dict[str, EncodedEntry]] = {k: {} for k in cells}
    failed: dict[str, str] = {}
    bar = progress(total=len(mine), desc="encode", unit="img")

    def damaged(job: Any, why: str) -> None:
        log(
            f"cache entry {job.cell.root.name}/{job.key} is damaged ({why}): re-encoding it",
            out_dir,
        )

    def batch_failed(jobs: list[Any], why: str) -> None:
        log(
            f"a batch of {len(jobs)} images failed to encode ({why}): encoding them one by one",
            out_dir,
        )

    with bar:
        for job, outcome in run_jobs(
            mine, config.workers, damaged, config.encode_batch, batch_failed
        ):
            bar.update()
            if isinstance(outcome, EncodeFailure):
                failed[job.sample.id] = outcome.error
            else:
                entries[(job.codec.key, job.quality)][job.sample.id] = outcome
    reused = sum(e.reused for point in entries.values() for e in point.values())
    log(f"encode: {len(mine)} entries ({reused} reused from the cache)", out_dir)
    encoded_now = len(mine) - reused - len(failed)
    if distributed.world().distributed:
        failed = gather_other_ranks_entries(jobs, mine, entries, failed)
    return Encoded(cells, entries, failed, encoded_now)


def bad_images_error(failed: Mapping[str, str]) -> DatasetError:
    """The corrupt-image policy ``stop``: one error naming the files and why."""
    shown = "; ".join(why.rstrip(". ") for why in list(failed.values())[:3])
    more = f" (the first 3 of {len(failed)} shown)" if len(failed) > 3 else ""
    return DatasetError(
        f"{len(failed)} image(s) cannot be used{more}: {shown}. The corrupt-image policy is "
        "'stop', so no accuracy is computed on a silently reduced set. Replace or remove "
        "those files (`jpegai-eval task check TASK --decode` finds files that do not "
        "decode), or "
        "pass --skip-bad-images to leave them out and list them in run.json and the report."
    )


def gather_other_ranks_entries(
    jobs: list[Any],
    mine: list[Any],
    entries: dict[PointKey, dict[str, EncodedEntry]],
    failed: dict[str, str],
) -> dict[str, str]:
    """Wait for every rank's encode block; read the entries the others wrote from the
    cache into ``entries``; return the unreadable images of every rank."""
    failed = {k: v for part in distributed.all_gather_json(failed) for k, v in part.items()}
    ours = {(job.cell.root, job.key) for job in mine}
    for job in jobs:
        if (job.cell.root, job.key) in ours or job.sample.id in failed:
            continue
        entry = job.cell.load(job.key)
        if entry is None:
            raise RuntimeError(
                f"cache entry {job.cell.root / job.key} is missing after every rank "
                "finished encoding: is the output folder on a filesystem all ranks share?"
            )
        entries[(job.codec.key, job.quality)][job.sample.id] = EncodedEntry.from_meta(
            job.key, entry, reused=True
        )
    return failed


def copy_originals(test: list[Sample], out_dir: Path) -> dict[str, str]:
    """Copy the first test image of each of the first :data:`ORIGINAL_COPIES` classes
    into ``OUT/originals/``, byte for byte, so that reports show originals without the
    dataset. Return {image id: path relative to ``out_dir``}."""
    from jpegai_eval.framework.io.image_io import atomic_write_bytes
    from jpegai_eval.framework.run.cache import file_digest, image_key

    chosen: dict[int, Sample] = {}
    for sample in test:
        if len(chosen) == ORIGINAL_COPIES:
            break
        chosen.setdefault(sample.label, sample)
    copies: dict[str, str] = {}
    for sample in chosen.values():
        try:
            data = sample.path.read_bytes()
        except OSError:
            continue
        name = image_key(sample.id, file_digest(sample.path)) + sample.path.suffix.lower()
        target = RunFolder(out_dir).originals / name
        if not (target.is_file() and target.stat().st_size == len(data)):
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, data)
        copies[sample.id] = f"{RunFolder.ORIGINALS}/{name}"
    return copies


# ------------------------------------------------------------------------ the matrix


def matrix(plan: Plan) -> list[CellId]:
    cells = [CellId(a, None, None) for a in plan.global_anchors]
    for cp in plan.codecs:
        for q in cp.qualities:
            cells += [CellId(a, cp.codec, q) for a in plan.anchors_for(cp.codec)]
    return cells


# ---------------------------------------------------------------- classifiers by rank


def classifier_of(plan: Plan, cell: CellId) -> str:
    return classifier_name(cell.anchor, cell.codec, cell.quality, plan)


def expected_costs(plan: Plan, cells: list[CellId], encoded: Encoded) -> dict[str, float]:
    """Each classifier's expected training cost: the MACs of one forward pass of its
    architecture at the preset's input size (every classifier trains on the same
    split for the same epochs). The same on every rank: nothing random, nothing timed."""
    import torch

    from jpegai_eval.framework.run.classify import latent_spec_of

    task, preset = plan.task, plan.config.preset
    macs: dict[str, float] = {}
    costs: dict[str, float] = {}
    for cell in cells:
        name = classifier_of(plan, cell)
        domain = cell.anchor.domain
        spec = latent_spec_of(cell, encoded) if domain == "latent" else None
        kind = f"{domain}:{spec!r}"
        if kind not in macs:
            with torch.random.fork_rng():
                model = task.classifier_for(domain, spec, preset)
                info = task.classifier_info(model, domain, spec, preset)
            given = info.get("macs")
            macs[kind] = float(given) if isinstance(given, numbers.Real) and given else 1.0
        costs[name] = macs[kind]
    return costs


def cells_for_rank(plan: Plan, cells: list[CellId], encoded: Encoded) -> list[CellId]:
    """The cells whose classifier this rank trains and evaluates: whole classifiers,
    balanced by expected cost (all cells for one process)."""
    w = distributed.world()
    if not w.distributed:
        return cells
    owner = distributed.balance(expected_costs(plan, cells, encoded), w.size)
    return [c for c in cells if owner[classifier_of(plan, c)] == w.rank]


def classify_stage(study: Study, encoded: Encoded) -> Classified:
    """Train and evaluate this rank's classifiers; then, on rank 0 of several, collect
    every cell (each finished, on disk, by the rank that owns it). Also return every
    rank's record (the images it encoded, the classifiers it trained, its seconds)."""
    from jpegai_eval.framework.run import classify

    plan, samples, out_dir, device = study.plan, study.samples, study.out_dir, study.device
    everything = matrix(plan)
    rank = rank_record(device, encoded)
    together: dict[str, Mapping[str, object]] = {}
    if plan.data_parallel:  # --ddp: first every rank trains every classifier together
        together = classify.train_together(plan, everything, samples, encoded, out_dir, device)
        rank["data_parallel"] = together
    mine = cells_for_rank(plan, everything, encoded)
    names = sorted({classifier_of(plan, c) for c in mine})
    meta = [study.folder.classifier(n).meta_json for n in names]
    before = [_mtime(m) for m in meta]
    rows, predictions, provider = classify.run_cells(plan, mine, samples, encoded, out_dir, device)
    rank["classifiers"] = names
    rank["classifiers_trained"] = [  # a new or rewritten meta.json: (re)trained here
        n for n, m, was in zip(names, meta, before, strict=True) if _mtime(m) not in (None, was)
    ]
    if plan.data_parallel:  # trained by every rank; evaluated by the rank in "classifiers"
        rank["classifiers_trained"] = sorted(together)
    rank["seconds"] = round(time.time() - study.started, 1)
    ranks = distributed.all_gather_json(rank)  # also: every rank's cells are on disk
    if distributed.world().distributed and distributed.is_main():
        rows, predictions, provider = classify.run_cells(
            plan, everything, samples, encoded, out_dir, device
        )
    return Classified(rows, predictions, provider, ranks)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def rank_record(device: str, encoded: Encoded) -> RankRecord:
    """This rank's part of ``run.json``'s ``ranks``, before its classifiers."""
    w = distributed.world()
    return RankRecord(
        rank=w.rank,
        local_rank=w.local_rank,
        host=platform.node(),
        device=device,
        items_encoded=encoded.encoded_now,
    )


# ------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Study:
    """One run as its stages see it, once the plan is checked and the output folder
    claimed: the plan, the images (without those that cannot be used), the codec x
    quality cells, the run folder and the device. Each stage reads it; none changes it."""

    plan: Plan
    plugins: Any
    folder: RunFolder
    samples: dict[str, list[Sample]]
    cells: dict[PointKey, Any]
    device: str
    started: float

    @property
    def out_dir(self) -> Path:
        return self.folder.root

    def without(self, failed: Mapping[str, str]) -> Study:
        """The study without the images in ``failed``."""
        samples = {
            split: [s for s in self.samples[split] if s.id not in failed] for split in SPLITS
        }
        return replace(self, samples=samples)


def prepare(config: RunConfig, out_dir: Path | None) -> tuple[Study, dict[str, str], float]:
    """Everything a user can get wrong, checked before the output folder is touched:
    names (the plan), the dataset (validated while listed), the classifiers' ImageNet
    weights, the codec weights, image sizes and headers, and disk space. Return the
    study, the images refused up front and the dataset listing's seconds."""
    started = time.time()
    plugins = get_plugins()
    plan = make_plan(config, plugins)
    check_offline(plan)  # offline: every missing file named at once, before any work
    config = plan.config  # the task's options resolved, defaults filled in
    folder = RunFolder(Path(out_dir) if out_dir else default_out_dir(config))
    t = time.time()
    samples = {split: plan.task.samples(split, **config.task_options) for split in SPLITS}
    check_classes(plan.task, samples)  # one class: Top-1 would read 100%
    init_weights, init_label = plan.task.classifier_init(config.preset, config.imagenet_weights)
    data_parallel = None
    if config.ddp and distributed.world().distributed:
        data_parallel = plan.task.data_parallel(config.preset, distributed.world().size)
        distributed.check_gpus_for_ddp(resolve_device(config.device))
    plan = replace(
        plan,
        notes=[*plan.notes, *plan.task.dataset_notes(**config.task_options)],
        init_weights=init_weights,
        init_label=init_label,
        data_parallel=data_parallel,
    )
    dataset_s = round(time.time() - t, 3)
    device = distributed.rank_device(resolve_device(config.device))
    cells = open_cells(plan, folder.root, codec_device(device, config.encode_batch))
    study = Study(plan, plugins, folder, samples, cells, device, started)
    # Sizes outside a codec's limits and unreadable headers: the corrupt-image policy
    # applies now, before the first encode, not after the work.
    everything = [s for split in SPLITS for s in samples[split]]
    metrics = [plugins.metrics.get(i) for i in plan.metric_ids]
    measured = {s.id for s in samples["test"]}  # where --metrics are computed
    unusable = unusable_images(everything, [cp.codec for cp in plan.codecs], metrics, measured)
    if unusable:
        if not config.skip_bad_images:
            raise bad_images_error(unusable)
        study = study.without(unusable)
        everything = [s for split in SPLITS for s in study.samples[split]]
    check_disk(
        folder.root,
        len(everything) * len(cells),
        everything[0] if everything else None,
        classifier_bytes(plan, cells),
    )
    return study, unusable, dataset_s


def run_study(config: RunConfig, out_dir: Path | None = None, force: bool = False) -> RunResult:
    """Run (or resume) the whole study; return where the results are."""
    study, unusable, dataset_s = prepare(config, out_dir)
    out_dir = study.out_dir
    # One run at a time per folder: the lock is held until the run ends (or fails). Every
    # rank checked the same things above; rank 0 takes the lock and claims the folder
    # while the others wait (and stop with its error if it fails).
    with contextlib.ExitStack() as held:

        def claim() -> Mapping[str, object]:
            _refuse_unsafe_out_dir(out_dir)  # before the lock writes anything there
            lock = held.enter_context(RunLock(out_dir))
            previous = claim_out_dir(out_dir, study.plan.config, force)
            swept = sweep_temporaries(out_dir)
            if swept:
                log(f"deleted {swept} temporary files left by an interrupted run", out_dir)
            if lock.stale_holder:
                log(
                    "took over the lock left by a run that is no longer alive "
                    f"({describe_holder(lock.stale_holder)})",
                    out_dir,
                )
            return previous

        previous = distributed.on_main(claim) or {}
        try:
            return _run_claimed(study, previous, dataset_s, unusable)
        except BaseException as exc:
            if distributed.world().is_main:
                mark_stopped(study.folder.run_json, exc)
            raise


def rate_points_record(config: RunConfig) -> RatePointsJson | None:
    """``run.json``'s record of ``--target-bpp``: the targets and the search rule."""
    if config.target_bpp is None:
        return None
    from jpegai_eval.framework.run import rate_points

    return RatePointsJson(
        target_bpp=config.target_bpp,
        rule=rate_points.RULE,
        tolerance=rate_points.TOLERANCE,
    )


def run_setup(study: Study) -> RunSetup:
    """What the run is, for ``run.json``: configuration, codecs and their exact
    settings, anchors, versions, determinism, notes."""
    plan, config = study.plan, study.plan.config
    return RunSetup(
        config=config.to_dict(),
        fingerprint=config.fingerprint(),
        qualities={cp.codec.key: cp.qualities for cp in plan.codecs},
        # each codec's libraries and exact settings; --target-bpp: the targets and rule
        codec_descriptions={cp.codec.key: cp.codec.description for cp in plan.codecs},
        # each codec's plugin, distribution and version (the cache key holds the latter)
        codec_origins={
            cp.codec.key: codec_origin(cp.codec, study.plugins).to_dict() for cp in plan.codecs
        },
        rate_points=rate_points_record(config),
        anchors=[a.id for a in plan.anchors],
        versions=versions(),
        git_commit=git_commit(),
        determinism=determinism(study.device, config.deterministic),
        corrupt_image_policy="skip" if config.skip_bad_images else "stop",
        notes=plan.notes,
        classifier_init=plan.init_label,
        world_size=distributed.world().size,
        # --ddp: the task's rule (world size, global and per-rank batch, learning rate)
        ddp=plan.data_parallel or False,
        encode=encode_modes(study),
    )


def encode_modes(study: Study) -> dict[str, EncodeModeJson]:
    """Per codec x quality point, how its images are encoded (``--encode-batch``)."""
    modes: dict[str, EncodeModeJson] = {}
    for cell in study.cells.values():
        modes[point_name(cell.codec, cell.quality)] = encode_mode(
            cell, study.plan.config.encode_batch
        )
    return modes


def start(study: Study, previous: Mapping[str, object], dataset_s: float) -> RunRecord:
    """Open this invocation's run record (written at once) and log what will run."""
    w = distributed.world()
    out_dir, plan = study.out_dir, study.plan
    started_iso = dt.datetime.fromtimestamp(study.started).isoformat(timespec="seconds")
    record = RunRecord.begin(run_setup(study), previous, started_iso)
    for note in plan.notes if w.is_main else []:
        log(note, out_dir)
    if w.is_main:
        record.write(study.folder.run_json)
    if plan.config.ddp and not w.distributed:
        log(
            "--ddp does nothing in one process (not launched by torchrun): each "
            "classifier trains as usual",
            out_dir,
        )
    log(f"classifiers start {plan.init_label}", out_dir)
    log(
        f"task {plan.task.id}: {len(study.samples['train'])} training and "
        f"{len(study.samples['test'])} test images; classifiers train on {study.device}",
        out_dir,
    )
    return record.timed("dataset_s", dataset_s)


def encode(study: Study, unusable: dict[str, str]) -> tuple[Study, Encoded]:
    """The encode stage, then the corrupt-image policy on what could not be used."""
    encoded = encode_stage(study.plan, study.samples, study.out_dir, study.cells)
    encoded = encoded.without(unusable)  # refused up front from their headers
    if encoded.failed:
        if not study.plan.config.skip_bad_images:
            raise bad_images_error(encoded.failed)
        first = ", ".join(list(encoded.failed)[:3])
        log(
            f"skipped {len(encoded.failed)} images that cannot be used (unreadable, or too "
            f"small or too large for a codec; first: {first}); they are "
            "left out of every anchor and listed in run.json (--skip-bad-images)",
            study.out_dir,
        )
        study = study.without(encoded.failed)
    return study, encoded


def write_results(study: Study, encoded: Encoded, classified: Classified) -> list[ResultRow]:
    """``results.csv`` (with the ``--metrics`` means), ``per_image.csv``, the rows
    stored back in ``cells/`` and the copied originals; return the rows."""
    from jpegai_eval.framework.run import results

    plan, out_dir, test = study.plan, study.out_dir, study.samples["test"]
    copies = copy_originals(test, out_dir)
    rows = results.with_metric_means(classified.rows, plan, encoded, test)
    results.store_rows_in_cells(out_dir, [c.name for c in matrix(plan)], rows)
    per_image = results.per_image_rows(
        plan, study.samples, encoded, classified.predictions, out_dir, copies
    )
    results.write_results(out_dir, rows, per_image)
    return rows


def latent_inputs(study: Study, classified: Classified) -> dict[str, LatentInput]:
    """Per compressed-domain classifier, the LatentSpec it read and the side of its
    input (``latent_input``, the preset's size for the spec's stride), from its
    ``meta.json``."""
    out: dict[str, LatentInput] = {}
    for row in classified.rows:
        if row.domain != "latent" or not row.classifier or row.classifier in out:
            continue
        try:
            meta = json.loads(study.folder.classifier(row.classifier).meta_json.read_text())
        except (OSError, ValueError):
            continue  # the results stand without it; the classifier's folder is its record
        if isinstance(meta, dict):
            out[row.classifier] = LatentInput(
                latent_spec=meta.get("latent_spec"),
                latent_input=meta.get("latent_input"),
                input=meta.get("input"),
            )
    return out


def outcome(study: Study, encoded: Encoded, classified: Classified) -> RunOutcome:
    """What ``run.json`` says of a finished run's results."""
    return RunOutcome(
        cells=[c.name for c in matrix(study.plan)],
        # each latent classifier's compressed domain and input size
        latent_inputs=latent_inputs(study, classified),
        n_classes=len(study.plan.task.classes),
        device=study.device,
        provider=classified.provider,
        onnxruntime_cuda_fallback=onnx_runtime.fallbacks(),
        skipped_images=dict(encoded.failed),
        finished=dt.datetime.now().isoformat(timespec="seconds"),
    )


def since(t: float) -> float:
    return round(time.time() - t, 3)


def _run_claimed(
    study: Study, previous: Mapping[str, object], dataset_s: float, unusable: dict[str, str]
) -> RunResult:
    """The stages of :func:`run_study`, once the output folder is locked and claimed."""
    from jpegai_eval.framework.run import results

    record = start(study, previous, dataset_s)
    t = time.time()
    study, encoded = encode(study, unusable)
    record = record.timed("encode_s", since(t))
    t = time.time()
    classified = classify_stage(study, encoded)
    record = record.timed("classify_s", since(t))
    if not distributed.world().is_main:  # rank 0 writes the results
        return RunResult(study.out_dir)
    record = record.with_ranks(classified.ranks)
    t = time.time()
    rows = write_results(study, encoded, classified)
    record = record.timed("results_s", since(t))
    # the report writers read the finished run.json
    record = record.finished(
        outcome(study, encoded, classified), round(time.time() - study.started, 1)
    )
    record.write(study.folder.run_json)
    t = time.time()
    reports = results.write_reports(study.out_dir, study.plugins)
    record = record.with_report_seconds(round(time.time() - t, 3))
    record.write(study.folder.run_json)
    results.print_summary(rows)
    return RunResult(study.out_dir, reports, rows)
