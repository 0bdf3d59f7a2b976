"""Benchmarks run by ``make bench`` (never by pytest: files are named ``bench_*.py``)."""
