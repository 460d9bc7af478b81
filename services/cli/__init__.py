"""`gatehouse`: run the system, call a command, and operate a running installation.

One module per command group (`up`, `call`, `migrate`, `keys`, `schemas`, `events`, `dlq`,
`down`, `users`), each with `add(commands)` to declare its arguments and a
`run(args, settings)` it sets as the parser default; `main` parses and dispatches.
`python -m services.cli` and the console script `gatehouse` both end in `main()`.
"""

from services.cli.main import main

__all__ = ["main"]
