"""svc_auth: tenants, users, roles, sessions and API keys; issues the mesh's tokens."""
