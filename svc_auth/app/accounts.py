"""Signup (a tenant and its owner) and Login (with lockout)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from mesh.context import acting_for_tenant
from mesh.errors import (
    AlreadyExists,
    DomainError,
    ResourceExhausted,
    Unauthenticated,
    Violations,
)
from mesh.ids import new_id
from svc_auth import convert, events
from svc_auth.app.common import ACTIVE, A, Deps, audit, created, now
from svc_auth.app.sessions import SignedIn, open_session
from svc_auth.domain import lockout, validation
from svc_auth.domain.roles import BUILTIN_ROLES, OWNER
from svc_auth.store import (
    Directory,
    LoginAttempts,
    RoleRow,
    Roles,
    TenantRow,
    Tenants,
    UserRow,
    Users,
)


def email_taken() -> AlreadyExists:
    return AlreadyExists("that e-mail address is already registered", reason="EMAIL_TAKEN")


def email_conflict(error: IntegrityError) -> Exception:
    """A unique-email violation (a concurrent call won the race) is EMAIL_TAKEN;
    any other integrity error is a bug and stays one."""
    return email_taken() if "email" in str(error.orig).lower() else error


@dataclass(frozen=True)
class SignupInput:
    tenant_name: str
    email: str
    password: str
    display_name: str


@dataclass(frozen=True)
class SignedUp:
    tenant: TenantRow
    signed_in: SignedIn


async def signup(deps: Deps, given: SignupInput) -> SignedUp:
    name = given.tenant_name.strip()
    email = validation.normalize_email(given.email)
    problems = Violations()
    problems.extend(validation.check_tenant_name(name))
    problems.extend(validation.check_email(email))
    problems.extend(validation.check_password(given.password, email))
    problems.extend(validation.check_display_name(given.display_name))
    problems.raise_if_any()

    password_hash = await deps.passwords.hash(given.password)
    tenant_id, user_id, at = new_id(), new_id(), now()
    stamp = created(user_id, at)  # the owner creates their own tenant
    try:
        with acting_for_tenant(tenant_id):
            async with deps.db.transaction() as session:
                if await Directory(session).email_taken(email):
                    raise email_taken()
                tenant = Tenants(session).add(TenantRow(id=tenant_id, name=name, **stamp))
                role_repo = Roles(session)
                roles = {
                    r.name: role_repo.add(
                        RoleRow(
                            id=new_id(),
                            name=r.name,
                            description=r.description,
                            builtin=True,
                            permissions=[],
                            **stamp,
                        )
                    )
                    for r in BUILTIN_ROLES.values()
                }
                owner = Users(session).add(
                    UserRow(
                        id=user_id,
                        email=email,
                        display_name=validation.default_display_name(given.display_name, email),
                        status=ACTIVE,
                        password_hash=password_hash,
                        roles=[roles[OWNER]],
                        **stamp,
                    )
                )
                signed_in = await open_session(deps, session, owner)
                await events.tenant_created(session, convert.tenant(tenant), user_id)
                await events.user_created(session, convert.user(owner))
                audit(
                    session,
                    A.AUDIT_EVENT_KIND_LOGIN,
                    actor=user_id,
                    subject_id=user_id,
                    detail="signed up and created the tenant",
                )
    except IntegrityError as error:
        raise email_conflict(error) from None  # a concurrent call took the address
    return SignedUp(tenant, signed_in)


def _bad_credentials() -> Unauthenticated:
    # Never say which part was wrong, nor whether the account exists.
    return Unauthenticated("wrong e-mail or password", reason="BAD_CREDENTIALS")


def _locked(seconds: int) -> ResourceExhausted:
    return ResourceExhausted(
        "too many failed sign-ins; try again later",
        retry_after_seconds=seconds,
        reason="ACCOUNT_LOCKED",
    )


async def login(deps: Deps, raw_email: str, password: str) -> SignedIn:
    email = validation.normalize_email(raw_email)
    problems = Violations()
    if not email:
        problems.add("email", "is required")
    if not password:
        problems.add("password", "is required")
    problems.raise_if_any()

    async with deps.db.sessions() as session:
        state = await LoginAttempts(session).load(email)
        user = await Directory(session).user_by_email(email)
    tenant_id = user.tenant_id if user else None

    wait = lockout.locked_for(state, now())
    if wait:
        await _record_failure(deps, email, tenant_id, user, counts=False)
        raise _locked(wait)

    stored = user.password_hash if user else None
    good = await deps.passwords.verify(stored, password) and user is not None
    if not good or user is None or user.status != ACTIVE:
        failure = await _record_failure(deps, email, tenant_id, user, counts=True)
        raise failure

    new_hash = None
    if stored and deps.passwords.needs_rehash(stored):
        new_hash = await deps.passwords.hash(password)  # Argon2 parameters were raised
    with acting_for_tenant(user.tenant_id):
        async with deps.db.transaction() as session:
            await LoginAttempts(session).clear(email)
            current = await Users(session).get_with_roles(user.id)
            if new_hash:
                current.password_hash = new_hash
            signed_in = await open_session(deps, session, current)
            audit(session, A.AUDIT_EVENT_KIND_LOGIN, actor=user.id, subject_id=user.id)
    return signed_in


async def _record_failure(
    deps: Deps, email: str, tenant_id: str | None, user: UserRow | None, *, counts: bool
) -> DomainError:
    """Count the failure (committed, although the call fails) and audit it in the
    user's tenant when there is one; returns the error to raise."""
    try:
        return await _count_failure(deps, email, tenant_id, user, counts=counts)
    except IntegrityError:
        # Two first failures for one address raced to insert its row: count again.
        return await _count_failure(deps, email, tenant_id, user, counts=counts)


async def _count_failure(
    deps: Deps, email: str, tenant_id: str | None, user: UserRow | None, *, counts: bool
) -> DomainError:
    at = now()
    async with deps.db.transaction() as session:
        attempts = LoginAttempts(session)
        before = await attempts.load(email)
        after = lockout.after_failure(before, deps.config.lockout, at) if counts else before
        if counts:
            await attempts.save(email, after)
        if tenant_id is not None and user is not None:
            with acting_for_tenant(tenant_id):
                reason = "locked" if not counts else "bad credentials"
                audit(
                    session,
                    A.AUDIT_EVENT_KIND_LOGIN_FAILED,
                    actor="",
                    subject_id=user.id,
                    detail=reason,
                )
                if lockout.just_locked(before, after, at):
                    audit(session, A.AUDIT_EVENT_KIND_LOCKED_OUT, actor="", subject_id=user.id)
    wait = lockout.locked_for(after, at)
    return _locked(wait) if wait else _bad_credentials()
