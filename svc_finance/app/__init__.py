"""svc_finance's use cases: one module per area, each a set of async functions
taking `Deps` and plain values, opening its own transaction."""
