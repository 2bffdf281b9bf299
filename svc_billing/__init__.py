"""svc_billing: plans, subscriptions, entitlements, usage metering, invoices and dunning."""
