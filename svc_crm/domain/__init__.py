"""CRM business rules: pure Python, no gRPC and no database."""
