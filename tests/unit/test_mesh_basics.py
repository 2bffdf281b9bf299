import base64
import time
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2

from erp.common.v1 import paging_pb2
from mesh import paging
from mesh.errors import InvalidArgument, ResourceExhausted, Violations, internal_status
from mesh.ids import new_id, uuid7


def test_uuid7_is_version_7_and_sorts_by_time() -> None:
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert str(first) < str(second)
    assert len({new_id() for _ in range(1000)}) == 1000


def test_invalid_argument_names_every_field() -> None:
    violations = Violations()
    violations.add("email", "must not be empty")
    violations.add("password", "at least 12 characters")
    with pytest.raises(InvalidArgument) as caught:
        violations.raise_if_any()
    error = caught.value
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert error.details()[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["email", "password"]


def test_resource_exhausted_says_when_to_retry() -> None:
    error = ResourceExhausted("locked", retry_after_seconds=90, reason="ACCOUNT_LOCKED")
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in error.details())
    assert retry.retry_delay.seconds == 90


def test_internal_status_carries_only_a_correlation_id() -> None:
    status = internal_status("abc-123")
    assert status.code == grpc.StatusCode.INTERNAL.value[0]
    assert "abc-123" in status.message and "Traceback" not in status.message


def test_paging_defaults_caps_and_tokens() -> None:
    assert paging.parse(paging_pb2.PageRequest()).size == paging.DEFAULT_PAGE_SIZE
    assert paging.parse(paging_pb2.PageRequest(page_size=10_000)).size == paging.MAX_PAGE_SIZE
    page = paging.Page(size=2, after="")
    assert paging.next_token(["a", "b"], page).next_page_token == ""
    token = paging.next_token(["a", "b", "c"], page).next_page_token
    assert paging.parse(paging_pb2.PageRequest(page_size=2, page_token=token)).after == "b"


@pytest.mark.parametrize("token", ["%%%", base64.urlsafe_b64encode(b"x:1").decode()])
def test_paging_rejects_foreign_tokens(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.parse(paging_pb2.PageRequest(page_token=token))
    assert caught.value.violations[0].field == "page.page_token"


def test_paging_rejects_negative_size() -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.parse(paging_pb2.PageRequest(page_size=-1))
    assert caught.value.violations[0].field == "page.page_size"


def test_request_digest_ignores_only_the_idempotency_key() -> None:
    from erp.auth.v1 import auth_service_pb2 as pb
    from mesh.idempotency import request_digest

    first = pb.CreateRoleRequest(name="a", permissions=["x.y.z"], idempotency_key="k1")
    same = pb.CreateRoleRequest(name="a", permissions=["x.y.z"], idempotency_key="k2")
    other = pb.CreateRoleRequest(name="b", permissions=["x.y.z"], idempotency_key="k1")
    assert request_digest(first) == request_digest(same)
    assert request_digest(first) != request_digest(other)
