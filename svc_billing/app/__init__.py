"""svc_billing's use cases: one unit of work each, between api.py and domain/."""
