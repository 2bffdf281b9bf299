"""Figures for svc_crm: the whole mesh (NATS, auth, billing, crm with their sidecars,
the edge) under a throwaway ERP_HOME, crm in its own process (bench.crm_server: svc_crm
without the plan's contact limit, see there).

- import: ROWS contacts in one tenant through the ImportContacts client stream on
  crm's unix socket (a result per row comes back), rows/s from the first message sent
  to the answer; on SQLite, and on PostgreSQL when it answers on 127.0.0.1:5432
  (a second mesh, fresh databases erp_bench_<hex>_<service>, dropped afterwards).
  Owners vary (u_0 .. u_9), so `owner = "u_3"` selects a tenth;
- over the SQLite import: GetContact of random imported ids and ListContacts (first
  page of PAGE_SIZE, `owner = "u_<n>" AND created > "2026-01-01"`, newest first, the
  owner cycling) direct on crm's unix socket and as REST through the edge, beside the
  bare echo ceiling measured in the same run (bench.mesh_bench).

`python -m bench crm` (or `python -m bench.crm`) runs it alone; ERP_BENCH_SECONDS,
ERP_BENCH_CRM_ROWS and ERP_BENCH_CRM_BACKENDS (sqlite,postgresql) change it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import grpc

from bench import load, mesh_bench, support
from erp.crm.v1 import crm_pb2, crm_service_pb2, crm_service_pb2_grpc
from mesh.config import SERVICES, MeshPaths
from mesh.launcher import Mesh

ROWS = int(os.environ.get("ERP_BENCH_CRM_ROWS", "100000"))
OWNERS = 10
PAGE_SIZE = 50
SINCE = "2026-01-01"
DIRECT_TARGET = 0.4  # GetContact direct >= 0.4 x the echo ceiling
IMPORT_TARGET = 10_000.0  # rows/s on PostgreSQL
# The answer has a result per row (~40 bytes each): far above gRPC's 4 MiB default.
MAX_ANSWER = 256 * 1024 * 1024


def _backends() -> list[str]:
    wanted = os.environ.get("ERP_BENCH_CRM_BACKENDS")
    found = support.backends()
    return [b for b in wanted.split(",") if b in found] if wanted else found


def crm_filter(owner: int) -> str:
    return f'owner = "u_{owner}" AND created > "{SINCE}"'


def service_argv(name: str) -> list[str]:
    module = "bench.crm_server" if name == "crm" else f"svc_{name}"
    return [sys.executable, "-m", module]


@contextmanager
def crm_mesh(backend: str) -> Iterator[tuple[MeshPaths, int, str]]:
    """A running mesh on `backend`: its paths, edge port and a tenant owner's token."""
    with ExitStack() as stack:
        settings = {}
        if backend == "postgresql":
            settings["ERP_DATABASE_URL"] = stack.enter_context(support.postgres_mesh(SERVICES))
        paths, env = stack.enter_context(mesh_bench.throwaway_home(**settings))
        edge_port = int(env["ERP_EDGE_PORT"])
        mesh = Mesh(paths=paths, edge_port=edge_port, service_argv=service_argv)
        mesh.start()
        try:
            yield paths, edge_port, mesh_bench.signup(edge_port)
        finally:
            mesh.stop()


def rows(import_id: str, count: int) -> list[crm_service_pb2.ImportContactsRequest]:
    return [
        crm_service_pb2.ImportContactsRequest(
            import_id=import_id,
            row=n + 1,
            contact=crm_pb2.Contact(
                first_name=f"First{n}",
                last_name=f"Last{n % 997}",
                email=f"contact{n}@bench.test",
                phone=f"+49 30 {n:08d}",
                title="Buyer",
                owner_id=f"u_{n % OWNERS}",
            ),
        )
        for n in range(count)
    ]


@dataclass(frozen=True)
class Imported:
    backend: str
    rows: int
    seconds: float
    contact_ids: list[str]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


async def import_contacts(backend: str, socket: str, token: str, count: int) -> Imported:
    requests = rows(f"bench-{backend}", count)  # built before the clock starts
    options = [("grpc.max_receive_message_length", MAX_ANSWER)]
    async with grpc.aio.insecure_channel(socket, options=options) as channel:
        stub = crm_service_pb2_grpc.CrmServiceStub(channel)
        started = time.perf_counter()
        answer = await stub.ImportContacts(
            iter(requests), metadata=(("authorization", f"Bearer {token}"),)
        )
        elapsed = time.perf_counter() - started
    totals = answer.totals
    if totals.created != count:
        created = crm_service_pb2.IMPORT_OUTCOME_CREATED
        first_bad = next((r for r in answer.results if r.outcome != created), None)
        raise RuntimeError(f"import created {totals.created} of {count}: {first_bad}")
    return Imported(backend, count, elapsed, [r.contact_id for r in answer.results])


async def reads(paths: MeshPaths, edge_port: int, token: str, ids: list[str]) -> list[load.Result]:
    results = [await mesh_bench.echo_ceiling(paths.home)]
    shuffled = random.Random(7).sample(ids, len(ids))  # noqa: S311 - not secret
    next_id = itertools.cycle(shuffled).__next__
    next_owner = itertools.cycle(range(OWNERS)).__next__
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(f"unix:{paths.socket('crm')}") as channel:
        stub = crm_service_pb2_grpc.CrmServiceStub(channel)

        async def get_contact() -> object:
            return await stub.GetContact(
                crm_service_pb2.GetContactRequest(id=next_id()), metadata=metadata
            )

        async def list_contacts() -> object:
            request = crm_service_pb2.ListContactsRequest(
                filter=crm_filter(next_owner()), page_size=PAGE_SIZE
            )
            return await stub.ListContacts(request, metadata=metadata)

        await check_page(stub, metadata)  # fail loudly before measuring if the path is broken
        calls = {"get_contact_direct": get_contact, "list_contacts_direct": list_contacts}
        for name, call in calls.items():
            await call()
            results.append(
                await load.run(
                    name, call, concurrency=mesh_bench.CONCURRENCY, seconds=mesh_bench.SECONDS
                )
            )
    headers = {"authorization": f"Bearer {token}"}
    results.append(
        await mesh_bench.rest_load(
            "get_contact_edge_rest", edge_port, headers, lambda: f"/v1/crm/contacts/{next_id()}"
        )
    )

    def list_path() -> str:
        query = urllib.parse.urlencode({"filter": crm_filter(next_owner()), "page_size": PAGE_SIZE})
        return f"/v1/crm/contacts?{query}"

    results.append(
        await mesh_bench.rest_load("list_contacts_edge_rest", edge_port, headers, list_path)
    )
    return results


async def check_page(
    stub: crm_service_pb2_grpc.CrmServiceStub, metadata: tuple[tuple[str, str], ...]
) -> None:
    """The filter selects what it should: a full page, all of one owner."""
    answer = await stub.ListContacts(
        crm_service_pb2.ListContactsRequest(filter=crm_filter(3), page_size=PAGE_SIZE),
        metadata=metadata,
    )
    owners = {c.owner_id for c in answer.contacts}
    if len(answer.contacts) != PAGE_SIZE or owners != {"u_3"} or not answer.next_page_token:
        raise RuntimeError(f"unexpected page: {len(answer.contacts)} contacts of {owners}")


@dataclass(frozen=True)
class MeasuredMesh:
    imported: Imported
    reads: list[load.Result]


async def measure(backend: str, paths: MeshPaths, edge_port: int, token: str) -> MeasuredMesh:
    socket = f"unix:{paths.socket('crm')}"
    imported = await import_contacts(backend, socket, token, ROWS)
    if backend != "sqlite":
        return MeasuredMesh(imported, [])
    return MeasuredMesh(imported, await reads(paths, edge_port, token, imported.contact_ids))


def main() -> None:
    measured = []
    for backend in _backends():
        with crm_mesh(backend) as (paths, edge_port, token):
            measured.append(asyncio.run(measure(backend, paths, edge_port, token)))
    print(
        f"CRM: {ROWS:,} contacts in one tenant, owners u_0..u_{OWNERS - 1}; whole mesh, "
        f"crm in its own process; {support.load_average()}"
    )
    figures: dict[str, float] = {"rows": ROWS}
    print("  import (ImportContacts client stream on crm's unix socket, a result per row):")
    for m in measured:
        i = m.imported
        target = f"   target >= {IMPORT_TARGET:,.0f} rows/s" if i.backend == "postgresql" else ""
        print(
            f"    {i.backend:<12} {i.rows_per_second:>9,.0f} rows/s   "
            f"({i.rows:,} rows in {i.seconds:.1f} s){target}"
        )
        figures[f"import.{i.backend}.rows_per_s"] = round(i.rows_per_second, 1)
        figures[f"import.{i.backend}.seconds"] = round(i.seconds, 3)
    results = {r.name: r for m in measured for r in m.reads}
    if results:
        print(
            f"  reads over the SQLite import, {mesh_bench.CONCURRENCY} concurrent callers, "
            f"{mesh_bench.SECONDS:.0f} s each; ListContacts: first page of {PAGE_SIZE}, "
            f"filter {crm_filter(3)!r} (owner cycling over {OWNERS}):"
        )
        for result in results.values():
            print("    " + result.line())
            figures.update(result.figures())
        ratios = {
            "get_direct_over_echo": mesh_bench.ratio(results, "get_contact_direct", "echo_ceiling"),
            "get_rest_over_direct": mesh_bench.ratio(
                results, "get_contact_edge_rest", "get_contact_direct"
            ),
            "list_rest_over_direct": mesh_bench.ratio(
                results, "list_contacts_edge_rest", "list_contacts_direct"
            ),
        }
        print(
            f"  GetContact direct / echo ceiling: {ratios['get_direct_over_echo']:.2f}   "
            f"target >= {DIRECT_TARGET}"
        )
        print(
            f"  REST through edge / direct: GetContact {ratios['get_rest_over_direct']:.2f}, "
            f"ListContacts {ratios['list_rest_over_direct']:.2f}"
        )
        figures.update({f"ratio.{k}": round(v, 3) for k, v in ratios.items()})
    written = support.write_figures("crm", figures)
    print(f"figures written to {written}")


if __name__ == "__main__":
    main()
