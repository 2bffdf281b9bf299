"""Client-side helpers for the svc_crm service tests: a tenant signed up through
svc_auth with its owner's token, users of other roles, and small record factories."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from auth_client import PASSWORD, bearer, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_harness import Crm  # type: ignore[import-not-found]
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as apb
from erp.common.v1 import money_pb2
from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    owner_id: str
    token: Metadata  # the owner's bearer metadata


async def new_tenant(auth: Auth, name: str = "Acme Ltd") -> Tenant:
    signed = await signup(auth.stub, tenant=name)
    return Tenant(signed.tenant.tenant_id, signed.user.user_id, bearer(signed.tokens.access_token))


async def user_token(auth: Auth, tenant: Tenant, role: str) -> Metadata:
    """Bearer metadata of a new user of `tenant` with one built-in role ("viewer", ...)."""
    email = unique_email(role)
    await auth.stub.InviteUser(
        apb.InviteUserRequest(email=email, roles=[role]), metadata=tenant.token
    )
    event = auth_pb2.UserInvited()
    await read_event(
        auth.nats_url,
        f"erp.auth.{tenant.tenant_id}.user.invited",
        event,
        match=lambda e: e.user.email == email,
    )
    accepted = await auth.stub.AcceptInvitation(
        apb.AcceptInvitationRequest(invitation_token=event.invitation_token, password=PASSWORD)
    )
    return bearer(accepted.tokens.access_token)


def unique(prefix: str = "x") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="EUR", amount_minor=amount_minor)


async def contact(crm: Crm, tenant: Tenant, **fields: object) -> crm_pb2.Contact:
    """A contact with a unique e-mail unless the test names one."""
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", unique("L"))
    fields.setdefault("email", f"{unique('c')}@example.com")
    answer = await crm.stub.CreateContact(
        pb.CreateContactRequest(contact=crm_pb2.Contact(**fields)),
        metadata=tenant.token,  # type: ignore[arg-type]
    )
    found: crm_pb2.Contact = answer  # standard methods answer with the resource
    return found


async def company(crm: Crm, tenant: Tenant, name: str = "") -> crm_pb2.Company:
    answer = await crm.stub.CreateCompany(
        pb.CreateCompanyRequest(company=crm_pb2.Company(name=name or unique("Co "))),
        metadata=tenant.token,
    )
    found: crm_pb2.Company = answer  # standard methods answer with the resource
    return found


async def opportunity(crm: Crm, tenant: Tenant, **fields: object) -> crm_pb2.Opportunity:
    fields.setdefault("name", unique("Deal "))
    fields.setdefault("amount", eur(100_00))
    answer = await crm.stub.CreateOpportunity(
        pb.CreateOpportunityRequest(opportunity=crm_pb2.Opportunity(**fields)),  # type: ignore[arg-type]
        metadata=tenant.token,
    )
    found: crm_pb2.Opportunity = answer  # standard methods answer with the resource
    return found
