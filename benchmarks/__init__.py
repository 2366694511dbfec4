"""Benchmarks: the same workloads on ember and torch, timed in one process."""
