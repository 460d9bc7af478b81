"""`python -m services.cli ...`: the same as the `gatehouse` console script."""

from services.cli.main import main

main()
