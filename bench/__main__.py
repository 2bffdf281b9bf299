"""`python -m bench`: every benchmark, one after the other, on this machine."""

from bench import mesh_bench

mesh_bench.main()
