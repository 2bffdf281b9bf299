"""svc_finance: the tenant's books: ledger, invoices, payments, reconciliation, statements."""
