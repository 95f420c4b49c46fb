"""Benchmark cards and loaders (installed as ``mige_eval.benchmarks``)."""
