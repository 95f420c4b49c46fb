"""Baseline adapters (installed as ``mige_eval.baselines``): one module per published model."""
