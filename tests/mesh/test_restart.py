"""Stopping and starting the mesh keeps every tenant's data (the database is migrated,
not recreated) and the signing keys (tokens issued before still verify)."""

from __future__ import annotations

import pytest
from real_mesh import PASSWORD, RunningMesh  # type: ignore[import-not-found]

pytestmark = pytest.mark.mesh


def test_restart_keeps_data_and_keys(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup("Durable")
    token = owner["tokens"]["access_token"]
    invited = running_mesh.call("POST", "/v1/auth/users", {"email": "kept@durable.test"}, token)
    assert invited.status == 200, invited

    running_mesh.restart()

    me = running_mesh.call("GET", "/v1/auth/me", token=token)  # issued before the restart
    assert me.status == 200, me
    login = running_mesh.call(
        "POST", "/v1/auth/login", {"email": owner["email"], "password": PASSWORD}
    )
    assert login.status == 200, login
    users = running_mesh.call("GET", "/v1/auth/users", token=login.body["tokens"]["access_token"])
    assert {u["email"] for u in users.body["users"]} == {owner["email"], "kept@durable.test"}
