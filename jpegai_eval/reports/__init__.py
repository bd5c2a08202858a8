"""Reports built from a run folder's results: CSV tables, the HTML report, plots."""
