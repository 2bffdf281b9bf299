"""Password hashing with Argon2id (argon2-cffi defaults), off the event loop.

A hash costs tens of milliseconds of CPU; in a thread it does not stall every
other RPC of the process.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Checks against a dummy hash when there is no account (or no password
        yet), so an unknown e-mail takes as long as a wrong password."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash("not-a-real-password-0000")
            stored = self._dummy
            await asyncio.to_thread(self._check, stored, password)
            return False
        return await asyncio.to_thread(self._check, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return bool(self._hasher.check_needs_rehash(stored))

    def _check(self, stored: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False
