"""The ``JPEGAI_EVAL_*`` environment variables: the one list of them, their types,
defaults and meaning, and the check that runs before any work.

Every reader of such a variable goes through :func:`value` (typed, checked), so a bad
value is one :class:`SettingError` naming the variable, the value and the fix, instead
of being ignored or failing deep inside a run. :func:`check_environment` checks every
variable set at once (the command line calls it before any command runs) and returns
a warning for each ``JPEGAI_EVAL_*`` name that is not a setting (a misspelling), with
the nearest setting. :func:`markdown_table` is the README's table of them (a test
keeps the two equal).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jpegai_eval.framework.errors import UsageError

PREFIX = "JPEGAI_EVAL_"

#: Kinds of value: what :func:`value` returns for each, and what it accepts.
KINDS = {
    "count": "a whole number > 0",
    "seconds": "a number of seconds >= 0",
    "flag": "1, true, yes, on, or 0, false, no, off",
    "path": "a path",
    "url": "a URL starting with https://, http:// or file://",
    "names": "comma-separated names",
    "choice": "one of the values listed",
    "tensors": "comma-separated KEY=TENSOR pairs",
}

TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")


class SettingError(UsageError):
    """A ``JPEGAI_EVAL_*`` environment variable whose value has the wrong type."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, kind of value, default and meaning."""

    name: str
    kind: str
    default: str
    doc: str
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Setting {self.name}: unknown kind {self.kind!r}")
        if not self.name.startswith(PREFIX):
            raise ValueError(f"Setting {self.name}: the name must start with {PREFIX}")

    @property
    def accepts(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return KINDS[self.kind]

    def parse(self, text: str) -> Any:
        """``text`` (the variable's value) as this setting's type; a SettingError if it
        is not one."""
        stripped = text.strip()
        try:
            return _PARSERS[self.kind](self, stripped)
        except ValueError:
            example = f" (default: {self.default})" if self.default else ""
            raise SettingError(
                f"Environment variable {self.name}={text!r} is not {self.accepts}; it sets "
                f"{self.doc[0].lower() + self.doc[1:].rstrip('.')}{example}. Set it to "
                f"{self.accepts}, or unset it (`unset {self.name}`)."
            ) from None


def _count(setting: Setting, text: str) -> int:
    number = int(text.replace("_", ""))
    if number <= 0:
        raise ValueError(text)
    return number


def _seconds(setting: Setting, text: str) -> float:
    number = float(text)
    if not number >= 0 or number == float("inf"):  # also refuses nan
        raise ValueError(text)
    return number


def _flag(setting: Setting, text: str) -> bool:
    lowered = text.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ValueError(text)


def _path(setting: Setting, text: str) -> str:
    if not text:
        raise ValueError(text)
    return os.path.expanduser(text)


def _url(setting: Setting, text: str) -> str:
    if not re.match(r"^(https?|file)://\S+$", text):
        raise ValueError(text)
    return text


def _names(setting: Setting, text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _choice(setting: Setting, text: str) -> str:
    if text not in setting.choices:
        raise ValueError(text)
    return text


def _tensors(setting: Setting, text: str) -> str:
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    if not pairs or not all(re.match(r"^\w+\s*=\s*\S+$", p) for p in pairs):
        raise ValueError(text)
    return text


_PARSERS = {
    "count": _count,
    "seconds": _seconds,
    "flag": _flag,
    "path": _path,
    "url": _url,
    "names": _names,
    "choice": _choice,
    "tensors": _tensors,
}

#: Every environment variable jpegai-eval reads, in the README's order.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "JPEGAI_EVAL_MINC_ROOT", "path", "", "The MINC-2500 root when --data-root is not given."
    ),
    Setting(
        "JPEGAI_EVAL_CACHE",
        "path",
        "~/.cache/jpegai-eval",
        "Where generated demo datasets are kept.",
    ),
    Setting(
        "JPEGAI_EVAL_WEIGHTS_DIR",
        "path",
        "torch hub's checkpoints folder",
        "The folder of pretrained CompressAI checkpoints when --weights-dir is not given.",
    ),
    Setting(
        "JPEGAI_EVAL_TFC_DIR",
        "path",
        "~/.cache/jpegai-eval/tfc",
        "The folder of TFC metagraphs when --weights-dir is not given.",
    ),
    Setting(
        "JPEGAI_EVAL_OFFLINE",
        "flag",
        "0",
        "Whether the network is forbidden (as --offline): missing files are named, "
        "never downloaded.",
    ),
    Setting(
        "JPEGAI_EVAL_MAX_PIXELS",
        "count",
        "4096x4096 for learned codecs, 89478485 for others and .jai headers",
        "The largest image, in pixels, a codec codes and a .jai header may give.",
    ),
    Setting(
        "JPEGAI_EVAL_PROGRESS_SECONDS",
        "seconds",
        "10",
        "How often progress lines are printed when the output is not a terminal.",
    ),
    Setting(
        "JPEGAI_EVAL_START_METHOD",
        "choice",
        "fork on Linux, else spawn",
        "How encode worker processes are started.",
        choices=("fork", "spawn", "forkserver"),
    ),
    Setting(
        "JPEGAI_EVAL_LOAD_PLUGINS",
        "names",
        "all installed plugins",
        "Which installed third-party plugins load (entry-point or distribution names).",
    ),
    Setting(
        "JPEGAI_EVAL_TRACE_PLUGINS",
        "flag",
        "0",
        "Whether each plugin hook call is printed to stderr with the plugins that answered.",
    ),
    Setting(
        "JPEGAI_EVAL_TFC_TENSORS",
        "tensors",
        "found in the graph",
        "Which tensors of a TFC metagraph are y_hat, sigma_hat or sigma_index "
        "(`jpegai-eval codec tensors --backend tfc` lists them).",
    ),
    Setting(
        "JPEGAI_EVAL_MINC_URL",
        "url",
        "the dataset's own server",
        "A mirror replacing the folder of MINC-2500's download URL.",
    ),
    Setting(
        "JPEGAI_EVAL_COMPRESSAI_URL",
        "url",
        "CompressAI's server",
        "A mirror replacing the folder of CompressAI's checkpoint URLs.",
    ),
    Setting(
        "JPEGAI_EVAL_TFC_URL",
        "url",
        "TFC's server",
        "A mirror replacing the folder of TFC's metagraph URLs.",
    ),
    Setting(
        "JPEGAI_EVAL_TORCHVISION_URL",
        "url",
        "https://download.pytorch.org/models",
        "A mirror replacing the folder of torchvision's ImageNet weight URLs.",
    ),
    Setting(
        "JPEGAI_EVAL_SCREENSHOT_DIR",
        "path",
        "a temporary folder",
        "Where the browser test of the HTML report keeps its screenshots (tests only).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The :class:`Setting` called ``name`` (a KeyError for a name not listed: a
    programming error, every reader's variable must be in :data:`SETTINGS`)."""
    return _BY_NAME[name]


def value(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The typed value of ``name`` from the environment, or None when it is unset (or
    set to an empty string, except for flags, where empty means false)."""
    env = os.environ if environ is None else environ
    s = setting(name)
    text = env.get(name)
    if text is None or (not text.strip() and s.kind != "flag"):
        return None
    return s.parse(text)


def check_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """Check every ``JPEGAI_EVAL_*`` variable that is set: raise one SettingError naming
    each bad value, and return a warning for each unknown name."""
    env = os.environ if environ is None else environ
    errors: list[str] = []
    warnings: list[str] = []
    for name in sorted(n for n in env if n.startswith(PREFIX)):
        if name in _BY_NAME:
            try:
                value(name, env)
            except SettingError as exc:
                errors.append(exc.message)
        else:
            # Compared without the prefix, which every name shares.
            tails = [n[len(PREFIX) :] for n in _BY_NAME]
            near = difflib.get_close_matches(name[len(PREFIX) :], tails, n=1, cutoff=0.6)
            near = [PREFIX + n for n in near]
            hint = (
                f"did you mean {near[0]}?"
                if near
                else f"the settings are {', '.join(_BY_NAME)} (README, 'Environment variables')."
            )
            warnings.append(
                f"Environment variable {name} is not a jpegai-eval setting and is ignored; {hint}"
            )
    if errors:
        raise SettingError(" ".join(errors))
    return warnings


def markdown_table() -> str:
    """The README's table of settings."""
    lines = ["| variable | value | default | what it sets |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        lines.append(f"| `{s.name}` | {s.accepts} | {s.default or '(unset)'} | {s.doc} |")
    return "\n".join(lines)
