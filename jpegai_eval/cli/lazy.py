"""Commands that import their module on first use: :class:`LazyCommand`.

A plugin registers ``LazyCommand("codec", "jpegai_eval.codecs.cli:codec_group",
"Encode, decode, ...")`` with ``cli.add_command``: ``jpegai-eval --help`` lists its name
and short help without importing the module (which may need torch or TensorFlow);
running it, or asking for its own help, imports ``module:attribute`` and hands over to
that click command.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyCommand(click.Command):
    """A stand-in for the click command at ``target`` (``"module:attribute"``), imported
    when the command is first used. Any click group can hold it: the group lists it with
    ``short_help`` and, to run it, makes its context, which is the real command's."""

    def __init__(self, name: str, target: str, short_help: str) -> None:
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise ValueError(
                f"LazyCommand {name!r}: target {target!r} is not 'module:attribute' "
                "(for example 'jpegai_eval.codecs.cli:codec_group')."
            )
        super().__init__(name, short_help=short_help, help=short_help)
        self.target = target
        self._loaded: click.Command | None = None

    def load(self) -> click.Command:
        """The real command (imported once)."""
        if self._loaded is None:
            module, _, attribute = self.target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(
                    f"{self.target} is a {type(command).__name__}, not a click command: "
                    f"the plugin that registered {self.name!r} points at the wrong object."
                )
            self._loaded = command
        return self._loaded

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The group invokes ``ctx.command``: the real command from here on.
        return self.load().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.load().invoke(ctx)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self.load().get_params(ctx)

    def to_info_dict(self, ctx: click.Context) -> dict[str, Any]:
        return self.load().to_info_dict(ctx)
