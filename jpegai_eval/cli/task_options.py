"""The two-phase parse of commands that take a task's dataset options (``run``,
``fetch``, ``task info``, ``task check``): :class:`TaskOptionsCommand`.

``--task ID`` is read from the raw arguments first, wherever it stands; then click
parses everything with that task's options added (each task declares them:
:attr:`Task.options <jpegai_eval.framework.api.types.Task.options>`, a tuple of
:class:`~jpegai_eval.framework.api.types.TaskOption`), so an option of another task, or a
misspelt one, is a usage error naming the task's options. A task option not given is
left out and the task's default applies (:meth:`Task.resolve_options`).
"""

from __future__ import annotations

from typing import Any

import click

from jpegai_eval.framework.api.types import Task, TaskOption
from jpegai_eval.framework.errors import UnknownNameError, UsageError

#: Where the task read from the arguments is kept between the two phases of parsing.
TASK_META = "jpegai_eval.run.task"


def peek_task(args: list[str]) -> str | None:
    """The value of ``--task`` in raw arguments (``--task ID`` or ``--task=ID``)."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--task" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--task="):
            return arg.split("=", 1)[1]
    return None


def click_option(option: TaskOption, task_id: str) -> click.Option:
    """A task's declared option as a click option. Its click default is None, so that
    an option not given is left to :meth:`Task.resolve_options` (the help shows the
    task's default). A given value reaches the task converted to the option's type."""
    if option.type is bool:
        return click.Option(
            [option.flag, option.name],
            is_flag=True,
            default=None,
            help=option.help,
            callback=lambda ctx, param, value: None if value is None else bool(value),
        )
    if option.choices:
        kind: Any = click.Choice([str(c) for c in option.choices])
    elif option.type == "path":
        kind = click.Path()
    else:
        kind = {str: click.STRING, int: click.INT, float: click.FLOAT}[option.type]
    default = f"  [default: {option.default}]" if option.default is not None else ""

    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        return None if value is None else option.convert(value, task_id)

    return click.Option(
        [option.flag, option.name],
        type=kind,
        default=None,
        help=option.help + default,
        callback=convert,
    )


def _any_options() -> list[click.Parameter]:
    """Every registered task's options, each flag once, taken as given (for a --task
    that names no task: the plan then reports it)."""
    seen: set[str] = set()
    options: list[click.Parameter] = []
    for task in _all_tasks():
        for o in task.options:
            if o.flag not in seen and o.name not in seen:
                seen |= {o.flag, o.name}
                flag = o.type is bool
                options.append(
                    click.Option([o.flag, o.name], default=None, hidden=True, is_flag=flag)
                )
    return options


def _all_tasks() -> list[Task]:
    from jpegai_eval.framework.api.plugins import get_plugins

    return list(get_plugins().tasks)


class TaskOptionsCommand(click.Command):
    """A click command whose options include those of the task named by ``--task``.

    Phase one reads ``--task`` from the raw arguments (:func:`peek_task`) and looks the
    task up; phase two is click's own parse, with :meth:`get_params` adding that
    task's options. Without ``--task``, ``--help`` lists every task's options."""

    #: When True, the task is the first argument (``task check TASK ...``), not --task.
    task_is_first_argument = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if self.task_is_first_argument:
            task_id = args[0] if args and not args[0].startswith("-") else None
        else:
            task_id = peek_task(args)
        task = None
        if task_id is not None:
            from jpegai_eval.framework.api.plugins import get_plugins

            tasks = get_plugins().tasks
            if task_id in tasks:
                task = tasks.get(task_id)
        ctx.meta[TASK_META] = task
        # An unknown task is the plan's to report (with the known ones), after the
        # command's own checks: meanwhile any task's options are accepted as given.
        ctx.meta[TASK_META + ".unknown"] = task_id is not None and task is None
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise self._no_such_option(ctx, exc, task_id, task) from None

    def _no_such_option(
        self, ctx: click.Context, exc: click.NoSuchOption, task_id: str | None, task: Task | None
    ) -> Exception:
        owners = [t.id for t in _all_tasks() if exc.option_name in [o.flag for o in t.options]]
        if not owners:
            return exc
        if task_id is None:
            give = (
                f"give the task first: {ctx.command_path} {owners[0]} {exc.option_name} ..."
                if self.task_is_first_argument
                else f"give the task too: --task {owners[0]}"
            )
            return UsageError(
                f"Option {exc.option_name} is a dataset option of task {', '.join(owners)}; {give}."
            )
        if task is None:
            from jpegai_eval.framework.api.plugins import get_plugins

            return UnknownNameError("task", task_id, get_plugins().tasks.ids())
        mine = ", ".join(o.flag for o in task.options) or "none"
        return UsageError(
            f"Task {task.id!r} has no option {exc.option_name} (task "
            f"{', '.join(owners)} has); the options of {task.id!r} are {mine}."
        )

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        task: Task | None = ctx.meta.get(TASK_META)
        if task is None and ctx.meta.get(TASK_META + ".unknown"):
            return self._with(params, ctx.meta.setdefault(TASK_META + ".params", _any_options()))
        if task is None or not task.options:
            return params
        taken = {n for p in params for n in [p.name, *getattr(p, "opts", [])]}
        clash = [o.flag for o in task.options if o.name in taken or o.flag in taken]
        if clash:
            raise UsageError(
                f"Task {task.id!r} declares {', '.join(clash)}, which `run` already has; "
                "the task's plugin must rename that option."
            )
        # Built once per invocation: click's parse and its processing see the same objects.
        extra: list[click.Parameter] = ctx.meta.setdefault(
            TASK_META + ".params", [click_option(o, task.id) for o in task.options]
        )
        return self._with(params, extra)

    @staticmethod
    def _with(params: list[click.Parameter], extra: list[click.Parameter]) -> list[click.Parameter]:
        if params and params[-1].name == "help":  # the help option stays last
            return [*params[:-1], *extra, params[-1]]
        return [*params, *extra]

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        if ctx.meta.get(TASK_META) is not None:
            return
        rows = [(t.id, " ".join(o.flag for o in t.options) or "(none)") for t in _all_tasks()]
        if rows:
            with formatter.section("Dataset options of each task (--task ID --help)"):
                formatter.write_dl(rows)
