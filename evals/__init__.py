"""Benchmarks a lab can run (issue 7, in progress): scoring as MD-EvalBench does."""
