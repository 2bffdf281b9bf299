"""`python -m bench`: every benchmark, one after the other, on this machine."""

from bench import entitlements, events, mesh_bench

mesh_bench.main()
events.main()
entitlements.main()
