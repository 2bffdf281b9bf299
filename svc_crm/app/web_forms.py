"""Web forms: a tenant's public lead capture. Creating, listing and changing forms
is an ordinary tenant call; `submit` is public: the form key names the tenant, a
token bucket per form limits submissions, and the tenant's plan must include the
CRM."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2 as pb
from erp.crm.v1 import crm_service_pb2 as spb
from mesh.context import acting_for_tenant
from mesh.errors import (
    FailedPrecondition,
    FieldViolation,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Violations,
)
from mesh.ids import new_id
from svc_crm.app import leads
from svc_crm.app.common import Deps, actor_id
from svc_crm.app.masks import changed_paths
from svc_crm.domain.people import check_owner, check_text
from svc_crm.store import WebFormRow, WebForms, form_by_key

FORM_FIELDS = ("name", "rate_limit_per_minute", "owner_id", "enabled")
NAME_MAX = 100
RATE_MAX = 10000
KEY_PREFIX = "wf_"
FEATURE = "crm"


# ---- rate limiting ----------------------------------------------------------------------


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled at `rate` tokens per second; one per submission."""

    capacity: float
    rate: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def take(self, now: float) -> float:
        """0 when a token was taken; else the seconds until one is there."""
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class FormRateLimiter:
    """One token bucket per form, in this process: a form admits `per_minute`
    submissions at once and `per_minute` / 60 per second after that."""

    MAX_BUCKETS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def admit(self, form_id: str, per_minute: int) -> float:
        """0 when admitted; else the seconds to wait before the next one is."""
        now = self.clock()
        capacity = float(max(per_minute, 1))
        bucket = self._buckets.get(form_id)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._forget_full(now)
            bucket = TokenBucket(capacity, capacity / 60, capacity, now)
            self._buckets[form_id] = bucket
        elif bucket.capacity != capacity:  # the form's limit was changed
            bucket.refill(now)
            bucket.capacity, bucket.rate = capacity, capacity / 60
            bucket.tokens = min(bucket.tokens, capacity)
        return bucket.take(now)

    def check(self, form_id: str, per_minute: int) -> None:
        """RESOURCE_EXHAUSTED (RATE_LIMITED) with the seconds to wait, when over."""
        wait = self.admit(form_id, per_minute)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ResourceExhausted(
                f"this form admits {per_minute} submissions per minute; retry in {seconds} seconds",
                retry_after_seconds=seconds,
                reason="RATE_LIMITED",
            )

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: a new bucket is the same as a full one."""
        for key, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


LIMITER = FormRateLimiter()


# ---- forms ------------------------------------------------------------------------------


def check_form(
    name: str, rate: int, owner_id: str, prefix: str, paths: Sequence[str] = FORM_FIELDS
) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    if "name" in paths:
        found += check_text(name, f"{prefix}name", NAME_MAX, required=True)
    if "rate_limit_per_minute" in paths and not 1 <= rate <= RATE_MAX:
        found.append(FieldViolation(f"{prefix}rate_limit_per_minute", f"between 1 and {RATE_MAX}"))
    if "owner_id" in paths:
        found += check_owner(owner_id, f"{prefix}owner_id")
    return found


async def create(
    deps: Deps, session: AsyncSession, request: spb.CreateWebFormRequest
) -> WebFormRow:
    rate = request.rate_limit_per_minute or deps.config.web_form_rate_default
    problems = Violations(check_form(request.name, rate, request.owner_id, ""))
    problems.raise_if_any()
    return WebForms(session).add(
        WebFormRow(
            id=new_id(),
            name=request.name.strip(),
            form_key=KEY_PREFIX + secrets.token_urlsafe(24),
            rate_limit_per_minute=rate,
            owner_id=request.owner_id or actor_id(),
            enabled=True,
            created_at=deps.now(),
        )
    )


async def list_forms(deps: Deps) -> list[WebFormRow]:
    async with deps.db.sessions() as session:
        repo = WebForms(session)
        return await repo.all(repo.scoped().order_by(WebFormRow.created_at, WebFormRow.id))


async def update_form(deps: Deps, message: pb.WebForm, mask: Sequence[str]) -> WebFormRow:
    paths = changed_paths(message, mask, FORM_FIELDS, "web_form.")
    problems = Violations(
        check_form(
            message.name, message.rate_limit_per_minute, message.owner_id, "web_form.", paths
        )
    )
    problems.raise_if_any()
    async with deps.db.transaction() as session:
        row = await WebForms(session).get(message.id)
        for path in paths:
            if path == "name":
                row.name = message.name.strip()
            elif path == "rate_limit_per_minute":
                row.rate_limit_per_minute = message.rate_limit_per_minute
            elif path == "owner_id":
                row.owner_id = message.owner_id or actor_id()
            elif path == "enabled":
                row.enabled = message.enabled
        return row


# ---- public submissions -----------------------------------------------------------------


async def submit(
    deps: Deps, request: spb.SubmitWebFormRequest, limiter: FormRateLimiter | None = None
) -> str:
    """Capture a lead through a public form; the lead's id is the submission id."""
    if not request.form_key:
        raise NotFound("no such form", reason="FORM_NOT_FOUND")
    async with deps.db.sessions() as session:
        form = await form_by_key(session, request.form_key)
    if form is None or not form.enabled:
        raise NotFound("no such form", reason="FORM_NOT_FOUND")
    (limiter or LIMITER).check(form.id, form.rate_limit_per_minute)
    with acting_for_tenant(form.tenant_id):
        snapshot = await deps.entitlements.lookup(form.tenant_id)
        if snapshot is not None and FEATURE not in snapshot.features:
            raise PermissionDenied(
                f"the {snapshot.plan_id} plan does not include the feature '{FEATURE}'",
                reason="FEATURE_NOT_IN_PLAN",
                metadata={"feature": FEATURE, "plan": snapshot.plan_id},
            )
        if snapshot is not None and not snapshot.writes_allowed:
            raise FailedPrecondition(
                "the form's owner cannot take submissions now",
                reason="TENANT_SUSPENDED",
            )
        extra: list[FieldViolation] = []
        if not request.email.strip() and not request.phone.strip():
            extra.append(FieldViolation("email", "an e-mail or a phone is required"))
        message = pb.Lead(
            first_name=request.first_name,
            last_name=request.last_name,
            email=request.email,
            phone=request.phone,
            company_name=request.company_name,
            message=request.message,
            owner_id=form.owner_id,
            custom_fields=request.custom_fields,
        )
        origin = leads.Origin(
            source="web_form", web_form_id=form.id, prefix="", custom_field="custom_fields"
        )
        async with deps.db.transaction() as session:
            row = await leads.create_in(session, message, deps.now(), origin, extra=extra)
            return row.id
