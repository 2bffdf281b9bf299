"""Benchmarks: `make bench` (python -m bench) prints figures and writes them as JSON
to $ERP_HOME/bench/<benchmark>.json. They are never run as timed tests."""
