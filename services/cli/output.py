"""Where the CLI writes: results to stdout, progress and refusals to stderr."""

from rich.console import Console

console = Console()
err = Console(stderr=True)
