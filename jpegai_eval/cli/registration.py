"""Which commands the plugins register (``register_commands``), each attributed to the
plugin that added it: the one source of ``jpegai-eval``'s commands, built-in or not."""

from __future__ import annotations

from dataclasses import dataclass

import click

from jpegai_eval.framework.api.plugins import Plugins
from jpegai_eval.framework.errors import DuplicateIdError


@dataclass(frozen=True)
class PluginCommand:
    """A command a plugin registered, under the name it is run by."""

    name: str
    command: click.Command
    plugin: str


def plugin_commands(plugins: Plugins) -> list[PluginCommand]:
    """Every command the plugins register, in registration order (built-ins first).

    Each plugin's ``register_commands`` is called on a scratch click group of its own, so
    that every command is attributed to its plugin; two plugins adding the same name is
    an error naming both."""
    found: dict[str, PluginCommand] = {}
    for impl in plugins.implementations("register_commands"):
        scratch = click.Group(impl.plugin_name)
        impl.function(**{a: scratch for a in impl.argnames if a == "cli"})
        for name, command in scratch.commands.items():
            if name in found:
                raise DuplicateIdError(
                    f"Duplicate command {name!r}: registered by plugin "
                    f"{found[name].plugin!r} and again by plugin {impl.plugin_name!r}. "
                    "Uninstall one of them, or limit external plugins with "
                    "JPEGAI_EVAL_LOAD_PLUGINS."
                )
            found[name] = PluginCommand(name, command, impl.plugin_name)
    return list(found.values())
