"""Where an `AccessTokenVerifier` gets the JWK Set: identity over HTTP (`HttpJwks`) or over
the broker (`BrokerJwks`, `identity.jwks.v1`), or anything else with a `fetch()`.

Both sources are also importable from `gatehouse.access_tokens`.
"""

from typing import Any, Protocol

import httpx

from contracts.identity import v1
from gatehouse.rpc import RpcClient


class JwksSource(Protocol):
    async def fetch(self) -> list[dict[str, Any]]:
        """The keys of the JWK Set; raises anything on failure."""
        ...


class BrokerJwks:
    """The JWK Set from `identity.jwks.v1` through a connected `RpcClient` (yours to close)."""

    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def fetch(self) -> list[dict[str, Any]]:
        result = await self._rpc.result(v1.jwks, v1.GetJwks())
        assert isinstance(result, v1.Jwks)
        return [key.model_dump(exclude_none=True) for key in result.keys]


class HttpJwks:
    """The JWK Set from identity's `/.well-known/jwks.json` (or any JWKS URL)."""

    def __init__(
        self, url: str, *, client: httpx.AsyncClient | None = None, timeout_s: float = 5.0
    ) -> None:
        self._url = url
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def fetch(self) -> list[dict[str, Any]]:
        response = await self._client.get(self._url)
        response.raise_for_status()
        keys = response.json()["keys"]
        if not isinstance(keys, list):
            raise ValueError("a JWK Set's keys must be a list")
        return keys

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()
