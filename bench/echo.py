"""The ceiling: a bare grpc.aio unary echo (no interceptor, no proto work), run as
`python -m bench.echo SOCKET` in its own process, like a real service."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

METHOD = "/bench.Echo/Echo"


def _identity(data: bytes) -> bytes:
    return data


async def _echo(request: bytes, context: Any) -> bytes:
    return request


async def serve(address: str) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {"Echo": grpc.unary_unary_rpc_method_handler(_echo, _identity, _identity)},
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(address)
    await server.start()
    await server.wait_for_termination()


def client(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(
        METHOD, request_serializer=_identity, response_deserializer=_identity
    )


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
