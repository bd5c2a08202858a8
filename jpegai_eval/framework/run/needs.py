"""What a study needs from outside, as its plugins declare it, and its state on disk.

The codecs of a plan declare their weights (:meth:`Codec.remote_files` per quality and
``--weights``), the task its dataset archive and classifier-initialisation weights
(:meth:`Task.remote_files`). ``jpegai-eval fetch`` downloads them; ``run`` offline
checks them before any work.
"""

from __future__ import annotations

from dataclasses import dataclass

from jpegai_eval.framework.io.download import OFFLINE_ENV, OfflineError, is_offline
from jpegai_eval.framework.io.json_types import Scalar
from jpegai_eval.framework.io.remote import RemoteFile
from jpegai_eval.framework.run.plan import Plan


def task_options(plan: Plan) -> dict[str, Scalar]:
    """The options :meth:`Task.remote_files` is called with: the task's own (its
    declared options, resolved by the plan), ``preset`` and ``imagenet_weights``."""
    config = plan.config
    return {
        **config.task_options,
        "preset": config.preset,
        "imagenet_weights": config.imagenet_weights,
    }


def study_needs(plan: Plan) -> list[RemoteFile]:
    """Every file the plan's codecs and task declare, each once (by path)."""
    config = plan.config
    files: list[RemoteFile] = []
    for cp in plan.codecs:
        weights = config.weights_for(cp.codec)
        for quality in cp.qualities:
            files += cp.codec.remote_files(quality, weights, config.weights_dir)
    files += plan.task.remote_files(**task_options(plan))
    unique: dict[str, RemoteFile] = {}
    for file in files:
        unique.setdefault(str(file.path), file)
    return list(unique.values())


@dataclass
class State:
    """Where one needed file stands: ``ready`` when a run can use it as it is."""

    ready: bool
    text: str


def state_of(file: RemoteFile, verify: bool = True) -> State:
    """Present and verified, present but wrong, or missing (an archive: unpacked and
    validated by its owner's check, or not)."""
    if file.installed is not None:
        problem = file.installed()
        if problem is None:
            return State(True, f"unpacked in {str(file.unpack_into)!r} and validated")
        if file.path.is_file():
            return State(False, f"archive present, not unpacked yet ({_short(problem)})")
        return State(False, f"missing ({_short(problem)})")
    if not file.path.is_file():
        return State(False, "missing")
    if not verify:
        return State(True, "present")
    problem = file.verify()
    if problem is not None:
        return State(False, f"present but FAILS verification: {problem}")
    if file.checksum == "none published":
        return State(True, "present (no checksum published: checked for presence only)")
    return State(True, "present, verified")


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_offline(plan: Plan) -> None:
    """When offline, refuse a plan whose files are missing, naming each file, its
    folder and its URL (archives are left to their owner's check, which names them)."""
    if not is_offline():
        return
    missing = [f for f in study_needs(plan) if f.installed is None and not f.path.is_file()]
    if not missing:
        return
    listing = "; ".join(
        f"{f.what}: file {f.name} in {str(f.folder)!r}, from {f.url}" for f in missing
    )
    raise OfflineError(
        f"{len(missing)} file(s) this study needs are missing and the network is forbidden "
        f"({OFFLINE_ENV} is set or --offline was given): {listing}. Run `jpegai-eval "
        "fetch` with the same options on a machine with network access (it puts them in "
        "these folders) and copy them here."
    )
