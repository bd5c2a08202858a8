"""The run engine: plan, encode, classify, evaluate, results, run folder and run record."""
