"""``run.json``: the run record -- how every number of a run folder was made.

:class:`RunRecord` is what a run writes when it starts (``status: running``), after
its classifiers (every rank's part) and when it finishes; :func:`mark_stopped` closes
it when the run fails or is interrupted. A resumed run keeps the first start, lists
every invocation (:class:`Invocation`) and, until it finishes itself, the results
description of the last finished one (:data:`CARRIED_OVER`), so that a report built
after a failed rerun still says how its results were made.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from jpegai_eval.framework.run.run_json import RankRecord, RunOutcome, RunSetup
from jpegai_eval.framework.run.runfolder import write_json

#: What a new invocation keeps of the last finished one in run.json until it finishes
#: itself.
CARRIED_OVER = (
    "device",
    "provider",
    "finished",
    "cells",
    "skipped_images",
    "n_classes",
    "latent_inputs",
)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def now_iso() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Invocation:
    """One ``jpegai-eval run`` of a run folder: when, how it ended, its stage times."""

    started: str
    status: str = "running"
    timings: Mapping[str, float] = field(default_factory=dict)
    world_size: int = 1
    ended: str | None = None
    duration_s: float | None = None
    #: keys of an older run.json's entry that this version does not name, kept as read
    extra: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Invocation:
        known = {"started", "status", "timings", "world_size", "ended", "duration_s"}
        timings = data.get("timings")
        size = data.get("world_size")
        return cls(
            started=str(data.get("started", "")),
            status=str(data.get("status", "")),
            timings={
                str(k): v
                for k, v in (timings.items() if isinstance(timings, Mapping) else ())
                if isinstance(v, int | float) and not isinstance(v, bool)
            },
            world_size=int(size) if isinstance(size, int | float | str) and size else 1,
            ended=_text_or_none(data.get("ended")),
            duration_s=_number_or_none(data.get("duration_s")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_json(self) -> dict[str, object]:
        """The entry as run.json lists it: the known keys after any older ones."""
        out: dict[str, object] = {
            **self.extra,
            "started": self.started,
            "status": self.status,
            "timings": dict(self.timings),
            "world_size": self.world_size,
        }
        if self.ended is not None:
            out["ended"] = self.ended
        if self.duration_s is not None:
            out["duration_s"] = self.duration_s
        return out

    def closed(self, status: str, now: dt.datetime) -> Invocation:
        began = dt.datetime.fromisoformat(self.started)
        return replace(
            self,
            status=status,
            ended=now.isoformat(timespec="seconds"),
            duration_s=round((now - began).total_seconds(), 1),
        )


def total_seconds(invocations: list[Invocation]) -> float:
    """The run's time over every invocation, finished, failed or interrupted."""
    return round(sum(float(i.duration_s or 0.0) for i in invocations), 1)


def previous_invocations(previous: Mapping[str, object]) -> list[Invocation]:
    """The invocations a run folder's run.json lists; one still ``running`` was killed
    (with -9: it never closed its entry)."""
    out = []
    listed = previous.get("invocations")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, Mapping):
            old = Invocation.from_json(item)
            out.append(replace(old, status="killed") if old.status == "running" else old)
    return out


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries that make the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (
        "jpegai-eval",
        "torch",
        "torchvision",
        "compressai",
        "onnx",
        "onnxruntime-gpu",
        "onnxruntime",
        "numpy",
        "tensorflow",
        "tensorflow-compression",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """The commit of the jpegai-eval checkout, when it runs from one."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


@dataclass(frozen=True)
class RunRecord:
    """The content of ``run.json``. ``setup`` holds what the run is (configuration,
    fingerprint, codecs and their settings, anchors, versions, determinism, ...) as
    the evaluator describes it; the fields below are what the record itself tracks."""

    setup: RunSetup
    started: str
    invocations: tuple[Invocation, ...]
    status: str = "running"
    #: the last finished invocation's results description (:data:`CARRIED_OVER`), as read
    carried: Mapping[str, object] = field(default_factory=dict)
    #: every rank's record (rank, host, device, classifiers trained, seconds)
    ranks: tuple[RankRecord, ...] | None = None
    #: set when the run finishes: cells, n_classes, device, provider, skipped images...
    outcome: RunOutcome | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    duration_s: float | None = None

    @classmethod
    def begin(cls, setup: RunSetup, previous: Mapping[str, object], started: str) -> RunRecord:
        """A new invocation of the run whose last run.json was ``previous``."""
        invocations = [
            *previous_invocations(previous),
            Invocation(started, world_size=setup["world_size"]),
        ]
        return cls(
            setup=setup,
            # a resumed run keeps the first start; each invocation is listed
            started=str(previous.get("started", started)),
            invocations=tuple(invocations),
            carried={k: previous[k] for k in CARRIED_OVER if k in previous},
        )

    @property
    def current(self) -> Invocation:
        return self.invocations[-1]

    def timed(self, stage: str, seconds: float) -> RunRecord:
        """The record with this invocation's ``stage`` time set."""
        current = replace(self.current, timings={**self.current.timings, stage: seconds})
        return replace(self, invocations=(*self.invocations[:-1], current))

    def with_ranks(self, ranks: Sequence[RankRecord]) -> RunRecord:
        return replace(self, ranks=tuple(ranks))

    def stage_total(self, stage: str) -> float:
        """A stage's seconds summed over every invocation."""
        return round(sum(i.timings.get(stage, 0.0) for i in self.invocations), 3)

    def summed_timings(self) -> dict[str, float]:
        """Each stage of this invocation, its seconds summed over every invocation."""
        return {stage: self.stage_total(stage) for stage in self.current.timings}

    def finished(self, outcome: RunOutcome, duration_s: float) -> RunRecord:
        """The record of a run whose results are written; ``duration_s`` is this
        invocation's seconds so far."""
        current = replace(self.current, status="finished", ended=now_iso(), duration_s=duration_s)
        invocations = (*self.invocations[:-1], current)
        done = replace(self, invocations=invocations, status="finished", outcome=outcome)
        return replace(
            done,
            duration_s=total_seconds(list(invocations)),
            timings=done.summed_timings(),
        )

    def with_report_seconds(self, seconds: float) -> RunRecord:
        """The reports' own seconds go into the timings only (``duration_s`` stays what
        the reports show: until the results were written)."""
        record = self.timed("report_s", seconds)
        return replace(
            record, timings={**record.timings, "report_s": record.stage_total("report_s")}
        )

    def to_json(self) -> dict[str, object]:
        """``run.json``: what was carried over, overwritten by the setup, the record's
        own fields and, once finished, the outcome (keys sorted when written)."""
        out: dict[str, object] = {
            **self.carried,
            **self.setup,
            "started": self.started,
            "status": self.status,
            "timings": dict(self.timings)
            if self.status == "finished"
            else dict(self.current.timings),
            "invocations": [i.to_json() for i in self.invocations],
        }
        if self.ranks is not None:
            out["ranks"] = [dict(r) for r in self.ranks]
        if self.status == "finished" and self.outcome is not None:
            out.update(self.outcome)
            out["duration_s"] = self.duration_s
        return out

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())


def mark_stopped(path: Path, exc: BaseException) -> None:
    """Say in ``run.json`` that the run stopped (``failed``, or ``interrupted`` by the
    user) and why, so a folder is never left claiming to be ``running``; the stopped
    invocation is closed (its end, status and seconds count in the total). Rerunning
    the same command resumes it as before. Best effort: the original error is what
    matters."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("status") != "running":
            return
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        now = dt.datetime.now()
        invocations = info.get("invocations") or []
        if invocations and invocations[-1].get("status") == "running":
            last = Invocation.from_json(invocations[-1]).closed(status, now)
            invocations[-1] = last.to_json()
            info["duration_s"] = total_seconds(
                [Invocation.from_json(i) for i in invocations if isinstance(i, Mapping)]
            )
        info.update(
            status=status,
            error=str(message)[:2000],
            stopped=now.isoformat(timespec="seconds"),
        )
        write_json(path, info)
    except Exception:  # noqa: BLE001, S110 - never mask the error that stopped the run
        pass
