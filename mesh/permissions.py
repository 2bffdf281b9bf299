"""Permission patterns: "<domain>.<resource>.<action>", where a segment may be "*".

"*" alone grants everything. Matching is segment by segment, so "crm.*.read"
grants "crm.contacts.read" but not "crm.contacts.write".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEGMENT = re.compile(r"^([a-z][a-z0-9_]*|\*)$")


def is_valid_pattern(pattern: str) -> bool:
    if pattern == "*":
        return True
    parts = pattern.split(".")
    return len(parts) == 3 and all(_SEGMENT.fullmatch(p) for p in parts)


def pattern_grants(pattern: str, required: str) -> bool:
    if pattern == "*":
        return True
    want = required.split(".")
    have = pattern.split(".")
    return len(have) == len(want) and all(h in ("*", w) for h, w in zip(have, want, strict=True))


def grants(patterns: Iterable[str], required: str) -> bool:
    return any(pattern_grants(p, required) for p in patterns)


def covers(held: Iterable[str], requested: str) -> bool:
    """True when the held patterns grant everything `requested` (itself a pattern) does.

    Used so nobody can hand out (to an API key or a role) more than they hold.
    """
    held = list(held)
    if "*" in held:
        return True
    if requested == "*":
        return False
    req = requested.split(".")
    for pattern in held:
        have = pattern.split(".")
        if len(have) == 3 and all(h == "*" or h == r for h, r in zip(have, req, strict=True)):
            return True
    return False
