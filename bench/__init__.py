"""Benchmarks (``parley bench ...``)."""
