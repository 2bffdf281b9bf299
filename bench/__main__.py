"""`python -m bench`: every benchmark, one after the other, on this machine;
`python -m bench crm events` only those named."""

import sys

from bench import crm, entitlements, events, finance, finance_reports, mesh_bench

BENCHMARKS = {
    "mesh": mesh_bench.main,
    "events": events.main,
    "entitlements": entitlements.main,
    "crm": crm.main,
    "finance": finance.main,
    "finance-reports": finance_reports.main,
}

unknown = [name for name in sys.argv[1:] if name not in BENCHMARKS]
if unknown:
    sys.exit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
for name in sys.argv[1:] or BENCHMARKS:
    BENCHMARKS[name]()
