"""Gatehouse's client: what another service needs to talk to Gatehouse over RabbitMQ.

- `gatehouse.rpc`: `RpcClient`, to call any command and get its reply.
- `gatehouse.hooks`: `@hook` and `HookWorker`, to extend identity's flows.
- `gatehouse.channels`: `@custom_channel` and `ChannelWorker`, to deliver codes your way.
- `gatehouse.access_tokens`: `AccessTokenVerifier`, to check access tokens locally.
- `gatehouse.testing`: `TestHookWorker`, `TestChannelWorker`, to test workers without a broker.

The messages themselves are in the `contracts` package, shipped beside this one. The
services run these same files; modules whose names start with `_` are their shared plumbing.
"""

# The one version number of the repository: both distributions read it from here.
__version__ = "0.1.0"
