"""Business rules of svc_billing: pure Python, no gRPC, no database."""
