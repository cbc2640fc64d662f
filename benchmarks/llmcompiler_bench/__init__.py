"""Offline benchmarks: a replayed hosted model, the paper-shaped workloads, baselines, overhead."""
