"""Benchmarks a lab can run (``mdbot eval qa|code|retrieval``): MD-EvalBench-format Q&A and code generation
scored as the published benchmark scores them, retrieval quality, and a report directory per run.

Its own package rather than ``finetune/eval``: it measures the whole runtime (retrieval, the graph's loop,
the sandbox), not only trained weights, and it needs none of the training extras (torch, TRL).
"""
