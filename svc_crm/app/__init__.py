"""CRM use cases: one unit of work each."""
