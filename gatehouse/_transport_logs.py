"""The transport libraries' own loggers, kept from logging what a message carries."""

import logging


def silence_transport_debug() -> None:
    """aiormq and aio-pika log whole frames, bodies included, at DEBUG: a delivery frame holds
    a verification code. They are pinned at WARNING whatever the root level is."""
    for name in ("aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(logging.WARNING)
