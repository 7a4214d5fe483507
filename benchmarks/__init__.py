"""Benchmarks: each script measures ours beside a peer in the same run (see docs/benchmarks.md)."""
