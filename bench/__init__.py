"""Benchmarks: `make bench` prints one line per figure (ratios within one run)."""
