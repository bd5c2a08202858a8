"""The plugin manager: built-in plugins first, then installed ones by entry point.

Built-in behaviour is a set of ordinary plugin modules (:data:`DEFAULT_PLUGINS`),
registered exactly like third-party ones. Installed plugins come from the entry-point
group ``jpegai_eval``. The environment variable ``JPEGAI_EVAL_LOAD_PLUGINS`` limits
which of those load: a comma-separated list of entry-point or distribution names, and
empty for none. Under pytest, installed plugins load only when a test sets that
variable, so a developer's environment never leaks into the test suite.

``JPEGAI_EVAL_TRACE_PLUGINS=1`` prints one line to stderr for each hook call, naming
the plugins that answered it, in the order they were called (as datasette's
``DATASETTE_TRACE_PLUGINS`` does).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pluggy

from jpegai_eval.framework.api import hookspecs
from jpegai_eval.framework.api.metric_types import Metric
from jpegai_eval.framework.api.registry import CodecRegistry, Registry, make_registries
from jpegai_eval.framework.api.types import Anchor, ReportWriter, Task
from jpegai_eval.framework.errors import PluginError
from jpegai_eval.framework.version import __version__

ENTRY_POINT_GROUP = "jpegai_eval"
LOAD_PLUGINS_ENV = "JPEGAI_EVAL_LOAD_PLUGINS"
TRACE_PLUGINS_ENV = "JPEGAI_EVAL_TRACE_PLUGINS"

DEFAULT_PLUGINS = (
    "jpegai_eval.plugins.compressai_codecs",
    "jpegai_eval.plugins.pillow_codecs",
    "jpegai_eval.plugins.tfc_codecs",
    "jpegai_eval.plugins.minc_task",
    "jpegai_eval.plugins.imagefolder_task",
    "jpegai_eval.plugins.anchors",
    "jpegai_eval.plugins.report_writers",
    "jpegai_eval.plugins.commands",
    "jpegai_eval.plugins.bench",
    "jpegai_eval.plugins.fetch",
    "jpegai_eval.plugins.metrics",
)

REGISTER_HOOKS = ("codecs", "tasks", "anchors", "report_writers", "metrics")


def _self_distribution() -> dict[str, str]:
    return {"name": "jpegai-eval", "version": __version__}


def tracing() -> bool:
    """Whether ``JPEGAI_EVAL_TRACE_PLUGINS`` asks for hook calls on stderr."""
    from jpegai_eval.framework.settings import value

    return bool(value(TRACE_PLUGINS_ENV))


def trace_call(hook_name: str, plugin_names: list[str]) -> None:
    """One line on stderr: the hook called and the plugins that answered, in call order."""
    answered = ", ".join(plugin_names) or "(no plugin)"
    print(f"jpegai-eval: hook {hook_name}: {answered}", file=sys.stderr, flush=True)


def _trace_hook_calls(pm: pluggy.PluginManager) -> None:
    """Trace every call made through ``pm.hook`` (pluggy's hook-call monitoring), before
    the call: a hook whose plugin raises is in the trace too."""

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        # pluggy calls the implementations last-registered first.
        trace_call(hook_name, [impl.plugin_name for impl in reversed(impls)])

    def after(
        outcome: pluggy.Result[Any],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        return None

    pm.add_hookcall_monitoring(before, after)


def _wanted_external() -> set[str] | None:
    """Names allowed by JPEGAI_EVAL_LOAD_PLUGINS; None means all."""
    from jpegai_eval.framework.settings import value

    if os.environ.get(LOAD_PLUGINS_ENV) is None:
        return set() if getattr(sys, "_called_from_test", False) else None
    return set(value(LOAD_PLUGINS_ENV) or ())


@dataclass
class Plugins:
    """A loaded plugin manager and the registries its plugins filled."""

    pm: pluggy.PluginManager
    distributions: dict[str, dict[str, str]] = field(default_factory=dict)

    def check(self) -> None:
        """pluggy's ``check_pending``: refuse a plugin that implements a hook no spec
        declares (a typo such as ``register_codec``), naming the plugin and the hook."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError:
            raise PluginError(self._unknown_hooks_message()) from None

    def _unknown_hooks_message(self) -> str:
        known = hook_names()
        found: list[str] = []
        for name in sorted(vars(self.pm.hook)):
            caller = getattr(self.pm.hook, name)
            if name.startswith("_") or not isinstance(caller, pluggy.HookCaller):
                continue
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                who = self.origin(impl.plugin_name)
                found.append(f"plugin {who} implements an unknown hook {name!r}{hint}")
        listing = "; ".join(found) or "a plugin implements an unknown hook"
        return (
            f"{listing[0].upper()}{listing[1:]}. jpegai-eval's hooks are "
            f"{', '.join(known)}. Rename the function in the plugin, or leave the plugin "
            f"out with {LOAD_PLUGINS_ENV} (a comma-separated list of the plugins to load)."
        )

    def origin(self, plugin_name: str) -> str:
        """``'name' (distribution version)`` of a registered plugin, for messages."""
        dist = self.distributions.get(plugin_name, {})
        where = f"{dist.get('name', '')} {dist.get('version', '')}".strip()
        return f"{plugin_name!r}" + (f" ({where})" if where else "")

    def names(self) -> list[str]:
        """Registered plugins, in registration order (built-ins first)."""
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def implementations(self, hook_name: str) -> list[pluggy.HookImpl]:
        """A hook's implementations in registration order (built-ins first), for
        calling each on its own so that what it adds is attributed to its plugin;
        traced like a hook call when ``JPEGAI_EVAL_TRACE_PLUGINS`` is set."""
        impls: list[pluggy.HookImpl] = getattr(self.pm.hook, hook_name).get_hookimpls()
        if tracing():
            trace_call(hook_name, [impl.plugin_name for impl in impls])
        return impls

    def hooks_of(self, plugin_name: str) -> list[str]:
        """The hooks that plugin implements."""
        callers = self.pm.get_hookcallers(self.pm.get_plugin(plugin_name)) or []
        return sorted(caller.name for caller in callers)

    @cached_property
    def registries(self) -> dict[str, Registry[Any]]:
        self.check()
        registries = make_registries()
        for hook_name in REGISTER_HOOKS:
            registry = registries[hook_name]
            # Call each implementation on its own, in registration order (built-ins
            # first), so every object is attributed to the plugin that registered it.
            for impl in self.implementations(f"register_{hook_name}"):
                dist = self.distributions.get(impl.plugin_name, {})

                def register(
                    obj: Any,
                    _r: Registry[Any] = registry,
                    _p: str = impl.plugin_name,
                    _d: dict[str, str] = dist,
                ) -> None:
                    _r.add(obj, _p, _d)

                impl.function(**{a: register for a in impl.argnames if a == "register"})
        return registries

    @property
    def codecs(self) -> CodecRegistry:
        return self.registries["codecs"]  # type: ignore[return-value]

    @property
    def tasks(self) -> Registry[Task]:
        return self.registries["tasks"]

    @property
    def anchors(self) -> Registry[Anchor]:
        return self.registries["anchors"]

    @property
    def report_writers(self) -> Registry[ReportWriter]:
        return self.registries["report_writers"]

    @property
    def metrics(self) -> Registry[Metric]:
        return self.registries["metrics"]


def make_plugin_manager(load_external: bool = True) -> Plugins:
    """A fresh plugin manager with the built-in plugins and, if allowed, installed ones."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if tracing():
        _trace_hook_calls(pm)
    plugins = Plugins(pm)
    for name in DEFAULT_PLUGINS:
        module = importlib.import_module(name)
        pm.register(module, name=name)
        plugins.distributions[name] = _self_distribution()
    if load_external:
        _load_entry_points(plugins)
    plugins.check()
    return plugins


def hook_names() -> list[str]:
    """The hook specs' names (the whole plugin API)."""
    return sorted(
        name
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
    )


def _load_entry_points(plugins: Plugins) -> None:
    wanted = _wanted_external()
    if wanted is not None and not wanted:
        return
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else ""
        if wanted is not None and ep.name not in wanted and dist_name not in wanted:
            continue
        if plugins.pm.get_plugin(ep.name) is not None:
            continue
        plugins.pm.register(ep.load(), name=ep.name)
        plugins.distributions[ep.name] = {
            "name": dist_name,
            "version": dist.version if dist is not None else "",
        }


_default: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, created on first use."""
    global _default
    if _default is None:
        _default = make_plugin_manager()
    return _default


def reset_plugins() -> None:
    """Forget the process-wide plugin manager (tests use this after changing plugins)."""
    global _default
    _default = None
