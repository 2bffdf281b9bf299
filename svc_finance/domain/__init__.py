"""svc_finance's rules, pure Python: no gRPC, no SQL."""
