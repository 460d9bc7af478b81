"""One module per user flow; each function takes the shared `Identity` and a request."""
