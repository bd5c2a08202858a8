"""Built-in report writers: the CSV tables, the self-contained HTML report and
CompressAI's results JSON."""

from jpegai_eval import hookimpl


@hookimpl
def register_report_writers(register):
    from jpegai_eval.reports.bd_metrics import BdMetricsWriter
    from jpegai_eval.reports.compressai_json import CompressAIJsonWriter
    from jpegai_eval.reports.html import HtmlReportWriter
    from jpegai_eval.reports.tables import CsvTablesWriter

    register(CsvTablesWriter())
    register(HtmlReportWriter())
    register(CompressAIJsonWriter())
    register(BdMetricsWriter())
