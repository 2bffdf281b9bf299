"""A short-lived cache of users for GetMe, the hottest read in the ERP.

Every page of the web console asks "who am I"; a database round trip through
async SQLAlchemy costs more than the rest of the call together. This process is
the only writer of its users, so each write that changes what GetMe shows drops
the entry at once; the TTL bounds staleness when several replicas serve.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from svc_auth.store import UserRow


class ProfileCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._rows: OrderedDict[tuple[str, str], tuple[float, UserRow]] = OrderedDict()

    def get(self, tenant_id: str, user_id: str) -> UserRow | None:
        hit = self._rows.get((tenant_id, user_id))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, user: UserRow) -> None:
        if self._ttl <= 0:
            return
        key = (user.tenant_id, user.id)
        self._rows[key] = (time.monotonic() + self._ttl, user)
        self._rows.move_to_end(key)
        if len(self._rows) > self._max:
            self._rows.popitem(last=False)

    def drop(self, tenant_id: str, user_id: str) -> None:
        self._rows.pop((tenant_id, user_id), None)
