"""Who may call whom: the inbound policy of every sidecar, as data.

Each inbound listener admits only the SPIFFE ids listed here. The edge reaches
every service; services reach each other only when the table says so.
"""

from __future__ import annotations

from mesh.config import SERVICES, spiffe_id

EDGE = "edge"

# service -> callers it admits besides the edge. "*" means every other mesh service.
CALLERS: dict[str, tuple[str, ...]] = {
    "auth": ("*",),  # token keys (GetJwks)
    "billing": ("*",),  # entitlements on a cache miss (GetTenantEntitlements)
}


def allowed_callers(service: str, services: tuple[str, ...] = SERVICES) -> list[str]:
    """Names (edge first) whose certificates the service's sidecar accepts."""
    names = [EDGE]
    for caller in CALLERS.get(service, ()):
        if caller == "*":
            names.extend(s for s in services if s != service)
        else:
            names.append(caller)
    return list(dict.fromkeys(names))


def allowed_spiffe_ids(service: str, services: tuple[str, ...] = SERVICES) -> list[str]:
    return [spiffe_id(name) for name in allowed_callers(service, services)]
