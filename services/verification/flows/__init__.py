"""One module per use case; each flow takes the `VerificationService` and its command's typed
request (or its event), and returns its command's typed result (see handlers.py)."""
