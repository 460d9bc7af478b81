"""`/healthz`, `/readyz` and `/metrics` over a minimal HTTP/1.1 server.

A few lines of asyncio serve three GET routes; an ASGI stack would add a server dependency
and a second event loop owner for no gain.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger("gatehouse.health")

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


class HealthServer:
    def __init__(self, port: int, checks: list[ReadinessCheck], host: str = "0.0.0.0") -> None:
        self.port = port
        self.host = host
        self._checks = checks
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
            status, content_type, body = await self._route(parts[0] if parts else "", path)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            checks = await self.readiness()
            status = "200 OK" if checks and all(checks.values()) else "503 Service Unavailable"
            return status, "application/json", json.dumps(checks).encode()
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        return "404 Not Found", "text/plain", b"not found\n"
