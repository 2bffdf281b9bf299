"""The tenant's security log records what matters, newest first, paged."""

from __future__ import annotations

import grpc
from auth_client import PASSWORD, bearer, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as pb
from erp.common.v1 import paging_pb2

K = auth_pb2.AuditEventKind


async def test_audit_log_lists_security_events(auth: Auth) -> None:
    email = unique_email()
    up = await signup(auth.stub, email=email)
    token = bearer(up.tokens.access_token)
    try:
        await auth.stub.Login(pb.LoginRequest(email=email, password="wrong password!!"))
    except grpc.aio.AioRpcError:
        pass
    await auth.stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
    invited = await auth.stub.InviteUser(pb.InviteUserRequest(email=unique_email()), metadata=token)
    await auth.stub.SetUserRoles(
        pb.SetUserRolesRequest(user_id=invited.user.user_id, roles=["viewer"]), metadata=token
    )
    await auth.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="ci", permissions=["auth.users.read"]), metadata=token
    )

    seen: list[auth_pb2.AuditEvent] = []
    page = paging_pb2.PageRequest(page_size=2)
    while True:
        answer = await auth.stub.ListAuditEvents(
            pb.ListAuditEventsRequest(page=page), metadata=token
        )
        seen.extend(answer.events)
        if not answer.page.next_page_token:
            break
        page = paging_pb2.PageRequest(page_size=2, page_token=answer.page.next_page_token)

    kinds = [e.kind for e in seen]
    assert kinds == [
        K.AUDIT_EVENT_KIND_API_KEY_ISSUED,
        K.AUDIT_EVENT_KIND_ROLE_CHANGED,
        K.AUDIT_EVENT_KIND_USER_INVITED,
        K.AUDIT_EVENT_KIND_LOGIN,
        K.AUDIT_EVENT_KIND_LOGIN_FAILED,
        K.AUDIT_EVENT_KIND_LOGIN,  # the signup
    ]
    ids = [e.audit_event_id for e in seen]
    assert ids == sorted(ids, reverse=True)
    role_change = seen[1]
    assert role_change.actor_id == up.user.user_id
    assert role_change.subject_id == invited.user.user_id
    assert role_change.detail == "member -> viewer"
    assert all(e.HasField("occur_time") for e in seen)
