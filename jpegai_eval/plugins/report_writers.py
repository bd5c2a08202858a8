"""Built-in report writers."""

from jpegai_eval import hookimpl


@hookimpl
def register_report_writers(register):
    from jpegai_eval.reports.tables import CsvTablesWriter

    register(CsvTablesWriter())
