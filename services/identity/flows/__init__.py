"""One module per use case; each flow takes the `IdentityService` and its command's typed
request, and returns its command's typed result (see handlers.py)."""
