"""Benchmarks: figures and ratios against peers measured in the same run (``make bench``)."""
