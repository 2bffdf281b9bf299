"""Posting throughput of svc_finance: invoices posted per second, each with three
lines carrying tax (so every posting writes a receivable, two income lines and a tax
line, a chained hash, a gap-free number and two events), on the whole mesh.

Drafts are created first (not timed); then PostInvoice runs from 10 concurrent
callers, direct on finance's unix socket and as REST through the edge
(`POST /v1/finance/invoices/{id}:post`), beside the bare echo ceiling measured in
the same run (bench.mesh_bench). All postings go to ONE tenant, whose postings take
turns on its books (the hash chain is one sequence): the hardest case. Afterwards
VerifyLedger must pass and the invoice numbers must be gap-free.

`python -m bench finance` runs it alone; ERP_BENCH_SECONDS and
ERP_BENCH_FINANCE_BACKENDS (postgresql by default; sqlite,postgresql for both)
change it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator

import grpc

from bench import load, mesh_bench, support
from bench.crm import crm_mesh
from bench.http1 import Http1Connection
from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2, finance_service_pb2, finance_service_pb2_grpc
from mesh.config import MeshPaths

TARGET = 300.0  # invoices posted per second on PostgreSQL
# Enough drafts for the warm-up and the measured seconds at well above the target.
DRAFTS = int(os.environ.get("ERP_BENCH_FINANCE_DRAFTS", "0")) or int((mesh_bench.SECONDS + 1) * 900)


def _backends() -> list[str]:
    wanted = os.environ.get("ERP_BENCH_FINANCE_BACKENDS", "postgresql")
    found = support.backends()
    return [b for b in wanted.split(",") if b in found]


def invoice_request(n: int) -> finance_service_pb2.CreateInvoiceRequest:
    def price(minor: int) -> money_pb2.Money:
        return money_pb2.Money(currency_code="USD", amount_minor=minor)

    return finance_service_pb2.CreateInvoiceRequest(
        party=finance_pb2.Party(name=f"Customer {n % 50}"),
        lines=[
            finance_pb2.InvoiceLine(
                description="Licence", quantity="3", unit_price=price(4999), tax_rate_bps=2000
            ),
            finance_pb2.InvoiceLine(
                description="Support",
                quantity="1.5",
                unit_price=price(12000),
                tax_rate_bps=2000,
                discount_bps=1000,
            ),
            finance_pb2.InvoiceLine(
                description="Training", quantity="1", unit_price=price(80000), tax_rate_bps=700
            ),
        ],
    )


async def make_drafts(
    stub: finance_service_pb2_grpc.FinanceServiceStub, metadata: tuple[tuple[str, str], ...]
) -> list[str]:
    ids: list[str] = []
    numbers = iter(range(DRAFTS))

    async def worker() -> None:
        for n in numbers:
            made = await stub.CreateInvoice(invoice_request(n), metadata=metadata)
            ids.append(made.invoice.id)

    await asyncio.gather(*(worker() for _ in range(mesh_bench.CONCURRENCY)))
    return ids


def taker(ids: list[str]) -> Callable[[], str]:
    """The next unposted draft; running out is an error (more drafts are needed)."""
    found: Iterator[str] = iter(ids)

    def take() -> str:
        return next(found)

    return take


async def post_direct(
    paths: MeshPaths, metadata: tuple[tuple[str, str], ...]
) -> tuple[load.Result, int]:
    async with grpc.aio.insecure_channel(f"unix:{paths.socket('finance')}") as channel:
        stub = finance_service_pb2_grpc.FinanceServiceStub(channel)
        ids = await make_drafts(stub, metadata)
        take = taker(ids)

        async def post() -> object:
            return await stub.PostInvoice(
                finance_service_pb2.PostInvoiceRequest(id=take()), metadata=metadata
            )

        result = await load.run(
            "post_invoice_direct",
            post,
            concurrency=mesh_bench.CONCURRENCY,
            seconds=mesh_bench.SECONDS,
        )
        return result, len(ids)


async def post_rest(
    paths: MeshPaths, edge_port: int, token: str, metadata: tuple[tuple[str, str], ...]
) -> load.Result:
    async with grpc.aio.insecure_channel(f"unix:{paths.socket('finance')}") as channel:
        ids = await make_drafts(finance_service_pb2_grpc.FinanceServiceStub(channel), metadata)
    take = taker(ids)
    headers = {"authorization": f"Bearer {token}"}
    idle = [Http1Connection("127.0.0.1", edge_port) for _ in range(mesh_bench.CONCURRENCY)]

    async def post() -> object:
        connection = idle.pop()
        try:
            status, body = await connection.post(
                f"/v1/finance/invoices/{take()}:post", headers, b"{}"
            )
        finally:
            idle.append(connection)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        return body

    try:
        return await load.run(
            "post_invoice_edge_rest",
            post,
            concurrency=mesh_bench.CONCURRENCY,
            seconds=mesh_bench.SECONDS,
        )
    finally:
        for connection in idle:
            await connection.close()


async def check_books(
    paths: MeshPaths, metadata: tuple[tuple[str, str], ...]
) -> tuple[bool, int, int]:
    """(chain valid, entries checked, posted invoices): the run left sound books."""
    async with grpc.aio.insecure_channel(f"unix:{paths.socket('finance')}") as channel:
        stub = finance_service_pb2_grpc.FinanceServiceStub(channel)
        verified = await stub.VerifyLedger(
            finance_service_pb2.VerifyLedgerRequest(), metadata=metadata
        )
        balance = await stub.GetTrialBalance(
            finance_service_pb2.GetTrialBalanceRequest(as_of="9998-12-31"), metadata=metadata
        )
        if balance.total_debit_minor != balance.total_credit_minor:
            raise RuntimeError("the trial balance does not balance")
        numbers: list[str] = []
        token = ""
        while True:
            page = await stub.ListInvoices(
                finance_service_pb2.ListInvoicesRequest(
                    state=finance_pb2.INVOICE_STATE_POSTED, page_size=500, page_token=token
                ),
                metadata=metadata,
            )
            numbers += [i.number for i in page.invoices]
            token = page.next_page_token
            if not token:
                break
    sequence = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    if sequence != list(range(1, len(sequence) + 1)):
        raise RuntimeError("invoice numbers have gaps or repeats")
    return verified.valid, verified.entries_checked, len(numbers)


async def measure(paths: MeshPaths, edge_port: int, token: str) -> dict[str, object]:
    metadata = (("authorization", f"Bearer {token}"),)
    echo = await mesh_bench.echo_ceiling(paths.home)
    direct, drafts = await post_direct(paths, metadata)
    rest = await post_rest(paths, edge_port, token, metadata)
    started = time.perf_counter()
    valid, entries, invoices = await check_books(paths, metadata)
    return {
        "results": [echo, direct, rest],
        "valid": valid,
        "entries": entries,
        "invoices": invoices,
        "drafts": drafts,
        "verify_seconds": time.perf_counter() - started,
    }


def main() -> None:
    figures: dict[str, float] = {}
    for backend in _backends():
        with crm_mesh(backend) as (paths, edge_port, token):
            measured = asyncio.run(measure(paths, edge_port, token))
        results = {r.name: r for r in measured["results"]}  # type: ignore[attr-defined]
        print(
            f"Finance posting on {backend}: PostInvoice (3 lines with tax) in one tenant, "
            f"{mesh_bench.CONCURRENCY} concurrent callers, {mesh_bench.SECONDS:.0f} s each, "
            f"whole mesh; {support.load_average()}"
        )
        for result in results.values():
            print("    " + result.line())
            figures.update({f"{backend}.{k}": v for k, v in result.figures().items()})
        target = f"   target >= {TARGET:.0f}/s" if backend == "postgresql" else ""
        print(
            f"  invoices posted per second: direct {results['post_invoice_direct'].rps:,.0f}, "
            f"REST {results['post_invoice_edge_rest'].rps:,.0f}{target}"
        )
        print(
            f"  afterwards: {measured['invoices']} posted invoices numbered without gaps, "
            f"VerifyLedger valid={measured['valid']} over {measured['entries']} entries"
        )
        if not measured["valid"]:
            raise RuntimeError("VerifyLedger found problems after the run")
    written = support.write_figures("finance", figures)
    print(f"figures written to {written}")


if __name__ == "__main__":
    main()
