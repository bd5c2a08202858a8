"""``jpegai-eval fetch``: download what a study needs, ahead of time, where ``run`` looks.

It takes ``run``'s options (the same definitions: options that do not change what is
needed, such as ``--out`` or ``--device``, are accepted and ignored), plans the study the
way ``run`` does, asks its codecs and task what they need
(:func:`jpegai_eval.framework.run.needs.study_needs`) and downloads each missing file
(:func:`jpegai_eval.framework.io.download.download`). An archive (MINC-2500) is unpacked
where ``run`` reads it, validated by the task's own check, and then deleted unless
``--keep-archives``. ``--list`` downloads nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import click

from jpegai_eval.cli.options import offline_option
from jpegai_eval.cli.run import _int_list, run_command
from jpegai_eval.cli.task_options import TaskOptionsCommand
from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.download import download, unpack
from jpegai_eval.framework.io.remote import RemoteFile
from jpegai_eval.framework.run.needs import state_of, study_needs
from jpegai_eval.framework.run.plan import RunConfig, make_plan


def config_from_options(options: dict[str, Any]) -> RunConfig:
    """A RunConfig from ``run``'s options, parsed as ``run`` parses them."""
    values = {k: v for k, v in options.items() if k in RunConfig.__dataclass_fields__}
    # The rest of what `run` would take are the task's declared options (given ones only).
    own = {p.name for p in run_command.params} | {"list_only", "keep_archives", "offline"}
    values["task_options"] = {k: v for k, v in options.items() if k not in own and v is not None}
    values["codecs"] = list(values.get("codecs") or ())
    if isinstance(values.get("qualities"), str):
        values["qualities"] = _int_list(values["qualities"], "qualities")
    if isinstance(values.get("target_bpp"), str):
        from jpegai_eval.framework.run.rate_points import parse_targets

        values["target_bpp"] = parse_targets(values["target_bpp"])
    if isinstance(values.get("anchors"), str):
        anchors = [a.strip() for a in values["anchors"].split(",") if a.strip()]
        values["anchors"] = anchors or None
    return RunConfig(**values)


def needed_files(options: dict[str, Any]) -> list[RemoteFile]:
    from jpegai_eval.framework.api.plugins import get_plugins

    return study_needs(make_plan(config_from_options(options), get_plugins()))


def _size(file: RemoteFile) -> str:
    if file.size is None:
        return "not published"
    return f"{file.size} bytes ({file.size / 2**20:.1f} MiB)"


def describe(file: RemoteFile) -> str:
    """One file's block in ``fetch --list``."""
    where = str(file.folder)
    rows = [
        ("file", file.name),
        ("folder", where),
        ("url", file.url),
        ("size", _size(file)),
        ("checked by", file.checksum),
    ]
    if file.url_env:
        rows.append(("mirror", f"set ${file.url_env} to replace the URL's folder"))
    if file.unpack_into is not None:
        rows.append(("unpacked into", str(file.unpack_into)))
    rows.append(("status", state_of(file).text))
    return "\n".join([file.what] + [f"  {k + ':':<15}{v}" for k, v in rows])


def fetch_one(file: RemoteFile, keep_archives: bool = False) -> str:
    """Make ``file`` ready for ``run``; return what was done."""
    state = state_of(file)
    if state.ready:
        return "already there"
    done = "downloaded"
    if file.path.is_file():
        problem = file.verify()
        if problem is not None:
            raise UserError(
                f"{file.what}: {str(file.path)!r} is there but fails verification "
                f"({problem}). Delete it and run `jpegai-eval fetch` again, or replace it "
                f"with the file from {file.url}."
            )
        done = "verified"
    else:
        download(file)
    if file.installed is not None:
        click.echo(f"fetch: unpacking {file.name} into {file.unpack_into} ...", err=True)
        unpack(file)
        problem = file.installed()
        if problem is not None:
            raise UserError(
                f"{file.what}: unpacked {str(file.path)!r} into {str(file.unpack_into)!r}, "
                f"but the result does not validate: {problem}"
            )
        done += ", unpacked and validated"
        if not keep_archives:
            file.path.unlink()
            done += " (archive deleted)"
    return done


def _run_params() -> list[click.Parameter]:
    """``run``'s options, copied, so fetch takes exactly what run takes (the task's
    dataset options are added the way ``run`` adds them: :class:`TaskOptionsCommand`)."""
    return [copy.copy(p) for p in run_command.params if p.name != "offline"]


@click.option(
    "--keep-archives",
    is_flag=True,
    help="Keep a dataset archive after unpacking it [default: delete it once validated].",
)
@click.option("--list", "list_only", is_flag=True, help="List what is needed; download nothing.")
@offline_option
def fetch(list_only: bool, keep_archives: bool, **options: Any) -> None:
    """Download what the study with these options needs, where `run` looks for it.

    Takes run's options (the codecs, qualities, weights, task, preset, data root,
    weights folder, ImageNet weights); then `jpegai-eval run` with the same options
    needs no network. Downloads resume (NAME.part), are retried and verified. --list
    prints each file, where it is looked for, its URL and whether it is there.
    """
    files = needed_files(options)
    if list_only:
        if not files:
            click.echo("This study needs no file from outside.")
            return
        click.echo("\n\n".join(describe(f) for f in files))
        return
    failures: list[str] = []
    for file in files:
        try:
            click.echo(f"{file.what}: {fetch_one(file, keep_archives)} -> {file.path}")
        except UserError as exc:
            failures.append(exc.message)
    if failures:
        more = f" ({len(failures) - 1} more file(s) failed too)" if len(failures) > 1 else ""
        raise UserError(failures[0] + more)
    click.echo(
        f"{len(files)} file(s) ready: `jpegai-eval run` with the same options needs no network "
        "(add --offline to make sure)."
    )


fetch_command = TaskOptionsCommand(
    "fetch",
    callback=fetch,
    params=_run_params() + list(reversed(fetch.__click_params__)),  # type: ignore[attr-defined]
    help=fetch.__doc__,
    short_help="Download what a study needs, ahead of time.",
)
