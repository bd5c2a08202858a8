"""The evaluator: the codec x quality x anchor matrix (work in progress)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.plan import RunConfig, make_plan
from jpegai_eval.framework.plugins import get_plugins


@dataclass
class RunResult:
    out_dir: Path
    reports: list[Path] = field(default_factory=list)


def run_study(config: RunConfig, out_dir: Path | None = None, force: bool = False) -> RunResult:
    make_plan(config, get_plugins())
    raise UserError("The evaluator's stages are not built yet in this version.")
