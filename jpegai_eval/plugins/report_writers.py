"""Built-in report writers: the CSV tables and the self-contained HTML report."""

from jpegai_eval import hookimpl


@hookimpl
def register_report_writers(register):
    from jpegai_eval.reports.html import HtmlReportWriter
    from jpegai_eval.reports.tables import CsvTablesWriter

    register(CsvTablesWriter())
    register(HtmlReportWriter())
