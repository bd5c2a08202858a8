"""``jpegai-eval report RUN_DIR``: rebuild every report from a run folder's results.

The writers are the ones ``jpegai-eval run`` calls at the end of a run (registered
through ``register_report_writers``); this command only reads the run folder.
Importing this module does not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from jpegai_eval.framework.api.plugins import Plugins
    from jpegai_eval.framework.api.types import ReportOptions, ReportWriter


def writer_format(writer: ReportWriter) -> str:
    """The --format name of a writer: its ``format`` attribute, else its id."""
    return str(getattr(writer, "format", "") or writer.id)


def select_writers(plugins: Plugins, formats: list[str] | None) -> list[ReportWriter]:
    """The registered writers named by ``formats`` (format names or writer ids)."""
    from jpegai_eval.framework.errors import UsageError

    writers = list(plugins.report_writers)
    if not formats:
        return writers
    known = {writer_format(w): w for w in writers} | {w.id: w for w in writers}
    unknown = [f for f in formats if f not in known]
    if unknown:
        raise UsageError(
            f"Unknown report format {', '.join(repr(f) for f in unknown)}. Known formats: "
            f"{', '.join(sorted({writer_format(w) for w in writers}))} (or a writer id: "
            f"{', '.join(w.id for w in writers)})."
        )
    chosen = []
    for name in formats:
        if known[name] not in chosen:
            chosen.append(known[name])
    return chosen


def build_reports(
    run_dir: Path,
    out_dir: Path | None = None,
    formats: list[str] | None = None,
    options: ReportOptions | None = None,
) -> list[Path]:
    """Run the chosen report writers on ``run_dir`` under ``options``; write into
    ``out_dir`` (default: the run folder itself)."""
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.api.types import ReportOptions
    from jpegai_eval.framework.errors import UserError
    from jpegai_eval.framework.run.results import check_results_file, prune_outputs
    from jpegai_eval.reports.bd_metrics import check_bd_anchor
    from jpegai_eval.reports.tables import read_results, read_run_info

    options = options or ReportOptions()

    run_dir = Path(run_dir)
    info = read_run_info(run_dir) if (run_dir / "run.json").is_file() else {}
    cells = info.get("cells")
    if isinstance(cells, list) and all(isinstance(c, str) for c in cells):
        # results.csv is checked against the cells it was made from, and rebuilt from
        # them when it was cut, edited or deleted (or refused, naming a damaged cell).
        rebuilt = check_results_file(run_dir, cells)
        if rebuilt:
            click.echo(f"Warning: {rebuilt}.", err=True)
    elif not (run_dir / "results.csv").is_file():
        raise UserError(
            f"{str(run_dir)!r} is not a finished run folder: it has no results.csv. Give "
            "the --out folder of a `jpegai-eval run` (rerun it with the same --out to "
            "finish an interrupted run)."
        )
    if info.get("status") in ("failed", "interrupted", "running"):
        click.echo(
            f"Warning: the last invocation of this run is {info['status']}: the report "
            "shows the results of the last finished one (the report says so at the top).",
            err=True,
        )
    # Refused before any writer runs, so that no report is half re-rendered.
    if options.bd_anchor:
        check_bd_anchor(read_results(run_dir), options.bd_anchor, run_dir)
    writers = select_writers(get_plugins(), formats)
    out = Path(out_dir) if out_dir else run_dir
    written: dict[str, list[Path]] = {}
    for writer in writers:
        try:
            written[writer.id] = list(writer.write_with(run_dir, out, options))
        except OSError as exc:
            where = exc.filename or out
            raise UserError(
                f"Cannot write the {writer_format(writer)} report into {str(out)!r}: "
                f"{exc.strerror or exc} ({where}). Give a writable --out folder."
            ) from None
    return prune_outputs(out, written)


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "formats",
    default=None,
    metavar="LIST",
    help="Comma-separated formats to write (csv, html, or a writer id); default: all.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the reports (default: RUN_DIR itself).",
)
@click.option(
    "--bd-anchor",
    default=None,
    metavar="CODEC",
    help="Take the BD-rates of bd_metrics.csv and report.html against this codec of the "
    "run (id or id/backend) [default: the run's own --bd-anchor, else jpeg].",
)
def report_command(
    run_dir: Path, formats: str | None, out_dir: Path | None, bd_anchor: str | None
) -> None:
    """Rebuild the CSV tables and report.html from RUN_DIR's results."""
    from jpegai_eval.framework.api.types import ReportOptions

    names = [f.strip() for f in formats.split(",") if f.strip()] if formats else None
    options = ReportOptions(bd_anchor=bd_anchor)
    for path in build_reports(run_dir, out_dir, names, options):
        click.echo(str(path))
