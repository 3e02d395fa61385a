"""Benchmarks: quality and speed tables, always with the peers measured in the same run."""
