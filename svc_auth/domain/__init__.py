"""Business rules of svc_auth: pure Python, no gRPC, no database."""
