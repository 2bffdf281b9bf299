"""What svc_billing consumes: tenants and seats from svc_auth, usage from anyone."""

from __future__ import annotations

from erp.auth.v1 import auth_pb2
from erp.billing.v1 import billing_pb2
from mesh.consumer import Consumer, On
from svc_billing.app import subscriptions, usage

CONSUMERS = [
    Consumer(
        name="billing-from-auth",
        handlers=[
            On("auth.tenant.created", auth_pb2.TenantCreated, subscriptions.on_tenant_created),
            On("auth.user.created", auth_pb2.UserCreated, usage.on_user_created),
            On("auth.user.deactivated", auth_pb2.UserDeactivated, usage.on_user_deactivated),
        ],
    ),
    Consumer(
        name="billing-usage",
        handlers=[On("billing.usage.reported", billing_pb2.UsageReported, usage.on_usage_reported)],
    ),
]
