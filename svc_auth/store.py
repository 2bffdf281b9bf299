"""svc_auth's tables and repositories.

Every business row is `TenantOwned` and read through a `TenantRepository`, so a
query cannot forget the tenant filter. Only `Directory` looks across tenants, and
only by a globally unique secret or address (e-mail, token hash, API key id):
the flows that have no caller token yet (login, refresh, reset, invitation,
exchange) use it to learn the tenant, then act inside it with
`mesh.context.acting_for_tenant`. Signing keys and login attempts belong to the
service, not to a tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    UniqueConstraint,
    Update,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship

from mesh.db import TenantOwned, TenantRepository, UtcDateTime
from mesh.errors import NotFound
from mesh.ids import new_id
from mesh.tables import mesh_tables
from svc_auth.domain.lockout import Attempts
from svc_auth.domain.roles import OWNER
from svc_auth.domain.secrets import digest, new_token


class Base(DeclarativeBase):
    pass


TABLES = mesh_tables(Base.metadata)

ID = String(36)  # UUIDv7, canonical text form: sorts by creation time
HASH = String(64)  # SHA-256, hex


class Stamped:
    """Who created/last changed a resource and when (AuditStamps)."""

    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class TenantRow(TenantOwned, Stamped, Base):
    """A tenant; its tenant_id is its own id, so it is scoped like everything else."""

    __tablename__ = "auth_tenants"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


# Which roles a user holds. Both sides are rows of the same tenant (the
# repositories only ever link rows they read in the caller's tenant).
user_roles = Table(
    "auth_user_roles",
    Base.metadata,
    Column("user_id", ID, ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ID, ForeignKey("auth_roles.id"), primary_key=True, index=True),
)


class RoleRow(TenantOwned, Stamped, Base):
    __tablename__ = "auth_roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_auth_roles_tenant_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(500), default="")
    # Custom roles only; built-in roles read theirs from domain.roles.BUILTIN_ROLES.
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class UserRow(TenantOwned, Stamped, Base):
    __tablename__ = "auth_users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    # Unique across the ERP: an address signs in to exactly one tenant.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[int] = mapped_column(Integer)  # auth_pb2.UserStatus value
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # lazy="raise": async code must say how roles load (one joined select).
    roles: Mapped[list[RoleRow]] = relationship(
        secondary=user_roles, lazy="raise", order_by=RoleRow.name
    )


class SessionRow(TenantOwned, Base):
    """A sign-in; the family of its refresh tokens. Revoking it ends them all."""

    __tablename__ = "auth_sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("auth_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OneTimeToken:
    """Shared columns of hashed one-use tokens."""

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(HASH, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    def live(self, at: datetime) -> bool:
        """Not used yet and not expired."""
        return self.used_at is None and self.expires_at > at


class RefreshRow(TenantOwned, OneTimeToken, Base):
    __tablename__ = "auth_refresh_tokens"
    session_id: Mapped[str] = mapped_column(ID, ForeignKey("auth_sessions.id"), index=True)


class InvitationRow(TenantOwned, OneTimeToken, Base):
    __tablename__ = "auth_invitations"
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("auth_users.id"), index=True)


class ResetRow(TenantOwned, OneTimeToken, Base):
    __tablename__ = "auth_password_resets"
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("auth_users.id"), index=True)


class ApiKeyRow(TenantOwned, Stamped, Base):
    __tablename__ = "auth_api_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    secret_hash: Mapped[str] = mapped_column(HASH)
    expire_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoke_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditRow(TenantOwned, Base):
    __tablename__ = "auth_audit_events"
    __table_args__ = (Index("ix_auth_audit_events_tenant_id_id", "tenant_id", "id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[int] = mapped_column(Integer)  # auth_pb2.AuditEventKind value
    actor_id: Mapped[str] = mapped_column(String(64), default="")
    subject_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")
    occur_time: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginAttemptRow(Base):
    """Recent failed sign-ins per e-mail (also for unknown addresses)."""

    __tablename__ = "auth_login_attempts"
    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SigningKeyRow(Base):
    """An ES256 key pair; the private half encrypted with the key-encryption key."""

    __tablename__ = "auth_signing_keys"
    kid: Mapped[str] = mapped_column(ID, primary_key=True)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)  # nonce || AES-GCM(PKCS#8 DER)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # Published in the JWKS from created_at; signs from activates_at, which a scheduled
    # rotation sets past every verifier's JWKS cache; retired when the next one activates.
    activates_at: Mapped[datetime] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


M = TypeVar("M", bound=TenantOwned)


class Repository(TenantRepository[M]):
    """Adds tenant-scoped UPDATE and keyset paging to the mesh base."""

    def updating(self) -> Update:
        return update(self.model).where(self.model.tenant_id == self.tenant_id)

    async def page(self, after: str, limit: int, *, newest_first: bool = False) -> list[M]:
        """Up to `limit` rows after the keyset cursor `after` (an id)."""
        id_col = getattr(self.model, self.id_column)
        stmt = self.scoped()
        if after:
            stmt = stmt.where(id_col < after if newest_first else id_col > after)
        stmt = stmt.order_by(id_col.desc() if newest_first else id_col).limit(limit)
        return await self.all(stmt)


class Tenants(Repository[TenantRow]):
    model = TenantRow
    not_found_message = "tenant not found"


class Users(Repository[UserRow]):
    model = UserRow
    not_found_message = "user not found"

    def with_roles(self) -> Select[Any]:
        return self.scoped().options(joinedload(UserRow.roles))

    async def get_with_roles(self, user_id: str) -> UserRow:
        """One select: the user and its roles joined (GetMe's hot path)."""
        rows = await self.session.scalars(self.with_roles().where(UserRow.id == user_id))
        user: UserRow | None = rows.unique().one_or_none()
        if user is None:
            raise NotFound(self.not_found_message, reason="NOT_FOUND")
        return user

    async def page_with_roles(self, after: str, limit: int) -> list[UserRow]:
        stmt = self.with_roles()
        if after:
            stmt = stmt.where(UserRow.id > after)
        rows = await self.session.scalars(stmt.order_by(UserRow.id).limit(limit))
        return list(rows.unique().all())

    async def seats(self, deactivated_status: int) -> int:
        """Users who hold a seat: everyone invited or active (billing's `users`)."""
        stmt = select(func.count()).where(
            UserRow.tenant_id == self.tenant_id, UserRow.status != deactivated_status
        )
        return int(await self.session.scalar(stmt) or 0)

    async def other_active_owners(self, user_id: str, active_status: int) -> int:
        """How many active owners the tenant has besides `user_id`."""
        stmt = (
            select(func.count())
            .select_from(UserRow)
            .join(user_roles, user_roles.c.user_id == UserRow.id)
            .join(RoleRow, RoleRow.id == user_roles.c.role_id)
            .where(
                UserRow.tenant_id == self.tenant_id,
                UserRow.id != user_id,
                UserRow.status == active_status,
                RoleRow.name == OWNER,
            )
        )
        return int(await self.session.scalar(stmt) or 0)


class Roles(Repository[RoleRow]):
    model = RoleRow
    not_found_message = "role not found"

    async def named(self, names: Sequence[str]) -> list[RoleRow]:
        return await self.all(self.scoped().where(RoleRow.name.in_(list(names))))

    async def in_use(self, role_id: str) -> bool:
        held = exists().where(user_roles.c.role_id == role_id)
        return bool(await self.session.scalar(select(held)))

    async def remove(self, role: RoleRow) -> None:
        await self.session.delete(role)


class Sessions(Repository[SessionRow]):
    model = SessionRow
    not_found_message = "session not found"

    async def revoke(self, session_id: str, now: datetime) -> None:
        await self.session.execute(
            self.updating()
            .where(SessionRow.id == session_id, SessionRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_all_of(self, user_id: str, now: datetime) -> None:
        await self.session.execute(
            self.updating()
            .where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )


class OneTimeTokens(Repository[M]):
    async def use(self, token_id: str, now: datetime) -> bool:
        """Mark used unless it already was; False when someone got there first."""
        result = await self.session.execute(
            self.updating()
            .where(self.model.id == token_id, self.model.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


class RefreshTokens(OneTimeTokens[RefreshRow]):
    model = RefreshRow


class MailedTokens(OneTimeTokens[M]):
    """Tokens e-mailed to a user (through an event): invitations, password resets."""

    def issue(self, user_id: str, at: datetime, ttl: timedelta) -> str:
        """Store a new token's hash; returns the token itself, to be sent once."""
        token = new_token()
        self.add(
            self.model(
                id=new_id(),
                user_id=user_id,
                token_hash=digest(token),
                created_at=at,
                expires_at=at + ttl,
            )
        )
        return token


class Invitations(MailedTokens[InvitationRow]):
    model = InvitationRow


class Resets(MailedTokens[ResetRow]):
    model = ResetRow

    async def live_count(self, user_id: str, now: datetime) -> int:
        stmt = (
            select(func.count())
            .select_from(ResetRow)
            .where(
                ResetRow.tenant_id == self.tenant_id,
                ResetRow.user_id == user_id,
                ResetRow.used_at.is_(None),
                ResetRow.expires_at > now,
            )
        )
        return int(await self.session.scalar(stmt) or 0)

    async def use_all_of(self, user_id: str, now: datetime) -> None:
        await self.session.execute(
            self.updating()
            .where(ResetRow.user_id == user_id, ResetRow.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )


class ApiKeys(Repository[ApiKeyRow]):
    model = ApiKeyRow
    not_found_message = "API key not found"


class AuditLog(Repository[AuditRow]):
    model = AuditRow


class Directory:
    """The only cross-tenant reads: by a globally unique address or secret."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def user_by_email(self, email: str) -> UserRow | None:
        found: UserRow | None = await self.session.scalar(
            select(UserRow).where(UserRow.email == email)
        )
        return found

    async def email_taken(self, email: str) -> bool:
        return bool(await self.session.scalar(select(exists().where(UserRow.email == email))))

    async def refresh_token(self, token_hash: str) -> tuple[RefreshRow, SessionRow] | None:
        row = (
            await self.session.execute(
                select(RefreshRow, SessionRow)
                .join(SessionRow, SessionRow.id == RefreshRow.session_id)
                .where(RefreshRow.token_hash == token_hash)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def invitation(self, token_hash: str) -> InvitationRow | None:
        found: InvitationRow | None = await self.session.scalar(
            select(InvitationRow).where(InvitationRow.token_hash == token_hash)
        )
        return found

    async def reset(self, token_hash: str) -> ResetRow | None:
        found: ResetRow | None = await self.session.scalar(
            select(ResetRow).where(ResetRow.token_hash == token_hash)
        )
        return found

    async def api_key(self, api_key_id: str) -> ApiKeyRow | None:
        found: ApiKeyRow | None = await self.session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.id == api_key_id)
        )
        return found


class LoginAttempts:
    """Failure counts per e-mail; service-wide (unknown addresses have no tenant)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def load(self, email: str) -> Attempts:
        row = await self.session.get(LoginAttemptRow, email)
        if row is None:
            return Attempts()
        return Attempts(row.failures, row.window_start, row.locked_until)

    async def save(self, email: str, state: Attempts) -> None:
        row = await self.session.get(LoginAttemptRow, email)
        if row is None:
            row = LoginAttemptRow(email=email)
            self.session.add(row)
        row.failures = state.failures
        row.window_start = state.window_start
        row.locked_until = state.locked_until

    async def clear(self, email: str) -> None:
        await self.session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.email == email))


class SigningKeys:
    def __init__(self, session: Any) -> None:
        self.session = session

    async def newest_first(self) -> list[SigningKeyRow]:
        rows = await self.session.scalars(
            select(SigningKeyRow).order_by(SigningKeyRow.created_at.desc())
        )
        return list(rows.all())

    async def retire_all_but(self, kid: str, at: datetime) -> None:
        """Every other key stops signing at `at` (when `kid` activates)."""
        await self.session.execute(
            update(SigningKeyRow)
            .where(
                SigningKeyRow.kid != kid,
                (SigningKeyRow.retired_at.is_(None)) | (SigningKeyRow.retired_at > at),
            )
            .values(retired_at=at)
        )

    def add(self, row: SigningKeyRow) -> None:
        self.session.add(row)
