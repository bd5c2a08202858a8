"""Built-in plugin: the core commands of ``jpegai-eval`` (run, plugins, report, codec,
task, data), registered through ``register_commands`` like any third-party command.

Each is a :class:`~jpegai_eval.cli.lazy.LazyCommand`: its module (which may need torch or
TensorFlow) is imported only when the command runs, so ``jpegai-eval --help`` stays fast.
The ``bench``, ``fetch`` and ``metrics`` commands come from their own built-in plugins.
"""

from __future__ import annotations

from jpegai_eval import hookimpl
from jpegai_eval.cli.lazy import LazyCommand
from jpegai_eval.framework.api.hookspecs import CommandGroup

#: name, "module:attribute", short help (shown by ``jpegai-eval --help``).
COMMANDS = (
    ("run", "jpegai_eval.cli.run:run_command", "Run the codec x quality x anchor study."),
    (
        "plugins",
        "jpegai_eval.cli.listing:plugins_command",
        "List codecs, tasks, anchors and report writers, and their plugins.",
    ),
    ("report", "jpegai_eval.reports.cli:report_command", "Rebuild reports from a run folder."),
    ("codec", "jpegai_eval.codecs.cli:codec_group", "Encode, decode, inspect and train codecs."),
    ("task", "jpegai_eval.tasks.cli:task_group", "Inspect tasks and their classifiers."),
    ("data", "jpegai_eval.tasks.cli:data_group", "Create datasets (the synthetic demo)."),
)


@hookimpl
def register_commands(cli: CommandGroup) -> None:
    for name, target, short_help in COMMANDS:
        cli.add_command(LazyCommand(name, target, short_help), name)
