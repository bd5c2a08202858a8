"""Hook specifications: the whole plugin API of jpegai-eval.

A plugin is a module (or object) with functions decorated by ``@hookimpl`` whose
names are the specs below. Built-in behaviour is itself a set of plugins
(:data:`jpegai_eval.framework.api.plugins.DEFAULT_PLUGINS`); third-party plugins are found
through the entry-point group ``jpegai_eval``.

Every ``register_*`` hook receives a ``register`` callback and calls it once per
object it adds. The framework owns the registries: a duplicate id is an error that
names both plugins. An implementation may accept fewer arguments than its spec;
specs only ever gain arguments, never rename them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

PROJECT_NAME = "jpegai_eval"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

if TYPE_CHECKING:  # heavy or circular types only for the type checker
    from jpegai_eval.framework.api.metric_types import Metric
    from jpegai_eval.framework.api.types import Anchor, Codec, ReportWriter, Task


@hookspec
def register_codecs(register: Callable[[Codec], None]) -> None:
    """Called once when the plugins load: pass each Codec instance to ``register``."""


@hookspec
def register_tasks(register: Callable[[Task], None]) -> None:
    """Called once when the plugins load: pass each Task instance to ``register``."""


@hookspec
def register_anchors(register: Callable[[Anchor], None]) -> None:
    """Called once when the plugins load: pass each Anchor instance to ``register``."""


@hookspec
def register_report_writers(register: Callable[[ReportWriter], None]) -> None:
    """Called once when the plugins load: pass each ReportWriter instance to ``register``."""


@hookspec
def register_metrics(register: Callable[[Metric], None]) -> None:
    """Called once when the plugins load: pass each Metric record to ``register``."""


class CommandGroup(Protocol):
    """What ``register_commands`` receives: the ``jpegai-eval`` click group (a
    ``click.Group``; the framework names only the method a plugin needs, so that it
    imports no click)."""

    def add_command(self, cmd: Any, name: str | None = None) -> None:
        """Add a click command or group, under ``name`` or its own name."""


@hookspec
def register_commands(cli: CommandGroup) -> None:
    """Called when the CLI starts: add click commands or groups with ``cli.add_command``."""
