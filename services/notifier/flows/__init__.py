"""One module per use case; each flow takes the `NotifierService` and its typed input (a
command's request, an event, a delivery) (see handlers.py)."""
