"""Cursor paging shared by every List RPC (erp.common.v1.PageRequest)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from erp.common.v1 import paging_pb2
from mesh.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    size: int
    after: str  # sort key of the last item already seen; "" for the first page


def page_size(requested: int, field: str = "page_size") -> int:
    """The page size to use: the default for 0, capped at the maximum."""
    if requested < 0:
        raise InvalidArgument.one(field, "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def parse(request: paging_pb2.PageRequest, field_prefix: str = "page") -> Page:
    size = page_size(request.page_size, f"{field_prefix}.page_size")
    after = ""
    if request.page_token:
        try:
            after = base64.urlsafe_b64decode(request.page_token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidArgument.one(
                f"{field_prefix}.page_token", "not a token from this API"
            ) from None
        if not after.startswith("k:"):
            raise InvalidArgument.one(f"{field_prefix}.page_token", "not a token from this API")
        after = after[2:]
    return Page(size=size, after=after)


def next_token(keys: list[str], page: Page) -> paging_pb2.PageResponse:
    """`keys` are the sort keys of up to size+1 fetched items; one extra means more."""
    if len(keys) <= page.size:
        return paging_pb2.PageResponse()
    token = base64.urlsafe_b64encode(f"k:{keys[page.size - 1]}".encode()).decode()
    return paging_pb2.PageResponse(next_page_token=token)
