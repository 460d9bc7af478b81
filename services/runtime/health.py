"""`/healthz`, `/readyz`, `/metrics`, and the GET routes services add, over a minimal HTTP/1.1
server.

A few lines of asyncio serve a few GET routes; an ASGI stack would add a server dependency
and a second event loop owner for no gain. A service adds a route with `Service.serve_http`
(identity's `/.well-known/jwks.json`); it answers on the same port.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.runtime.logs import raised_at

log = logging.getLogger("gatehouse.health")

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


class HttpResponse(NamedTuple):
    status: str
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


HttpRoute = Callable[[], Awaitable[HttpResponse]]
BUILT_IN = ("/healthz", "/readyz", "/metrics")


class HealthServer:
    def __init__(
        self,
        port: int,
        checks: list[ReadinessCheck],
        host: str = "0.0.0.0",
        routes: Mapping[str, HttpRoute] | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self._checks = checks
        self._routes = dict(routes or {})
        if clash := set(self._routes) & set(BUILT_IN):
            raise ValueError(f"{sorted(clash)} are served by the health server itself")
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def readiness(self) -> dict[str, bool]:
        results: dict[str, bool] = {}
        for check in self._checks:
            try:
                results.update(await asyncio.wait_for(check(), 5))
            except Exception as exc:  # a failing check means not ready, never a crash
                log.warning("readiness check failed: %s", type(exc).__name__)
                results[getattr(check, "__qualname__", "check")] = False
        return results

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            status, content_type, body, headers = await self._route(parts[0] if parts else "", path)
            extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str) -> HttpResponse:
        if method != "GET":
            return HttpResponse("405 Method Not Allowed", "text/plain", b"method not allowed\n")
        if path == "/healthz":
            return HttpResponse("200 OK", "text/plain", b"ok\n")
        if path == "/readyz":
            checks = await self.readiness()
            status = "200 OK" if checks and all(checks.values()) else "503 Service Unavailable"
            return HttpResponse(status, "application/json", json.dumps(checks).encode())
        if path == "/metrics":
            return HttpResponse("200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        if (route := self._routes.get(path)) is not None:
            try:
                return await route()
            except Exception as exc:  # one failing route answers 500; the server goes on
                # Type and place only, as for commands: an exception's text can carry values.
                log.error("GET %s failed with %s at %s", path, type(exc).__name__, raised_at(exc))
                return HttpResponse("500 Internal Server Error", "text/plain", b"error\n")
        return HttpResponse("404 Not Found", "text/plain", b"not found\n")
