"""`python -m reliability [scenario ...]`: run fault scenarios, one JSON line each on stdout
(details on stderr). Exit status 1 when a scenario lost, duplicated, answered wrongly, left a
code stuck or did not recover; 2 when the harness itself failed."""

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from reliability.bench import Bench
from reliability.cleanup import install_signal_handlers
from reliability.lab import Lab, Options
from reliability.report import Result
from reliability.scenarios import ALL, CLUSTER


async def bench_for(lab: Lab, name: str, options: Options) -> Bench:
    """The scenario's bench, not yet deployed (`async with` deploys it)."""
    clustered = name in CLUSTER
    brokers = await lab.rabbit(3 if clustered else 1)
    return Bench(lab, name, options, brokers, replicas=2 if clustered else 1)


async def strike(bench: Bench, measured: Callable[[], None] = lambda: None) -> Result:
    """The scenario's fault on its deployed bench, then (after `measured()`: the timing of
    the recovery is in the records) the audit of what it left."""
    began = time.monotonic()
    ends = await ALL[bench.scenario](bench)
    measured()
    result = await bench.audit(ends)
    result.details["wall_s"] = round(time.monotonic() - began, 1)
    return result


async def run_scenario(lab: Lab, name: str, options: Options) -> Result:
    async with await bench_for(lab, name, options) as bench:
        return await strike(bench)


async def run(names: list[str], options: Options, keep: bool = False) -> tuple[list[Result], int]:
    lab = Lab(keep=keep)
    results, failures = [], 0
    try:
        for name in names:
            if name in CLUSTER:
                lab.release(1)  # one broker at a time on a small machine
            try:
                result = await run_scenario(lab, name, options)
            except Exception:
                failures += 1
                print(f"# {name}: the harness failed\n{traceback.format_exc()}", file=sys.stderr)
                continue
            print(result.line(), flush=True)
            print(result.detail_line(), file=sys.stderr, flush=True)
            results.append(result)
    finally:
        lab.close()
    return results, failures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    p.add_argument(
        "scenarios",
        nargs="*",
        choices=[[], *ALL],
        metavar="scenario",
        help=f"any of {', '.join(ALL)} (default: all)",
    )
    p.add_argument("--short", action="store_true", help="a few seconds of load per scenario")
    p.add_argument("--rate", type=float, help="requests per second (default 40)")
    p.add_argument("--keep", action="store_true", help="keep the run directory (logs, records)")
    p.add_argument(
        "--code",
        help="another Gatehouse checkout to test (its services and client; default: this one)",
    )
    args = p.parse_args(argv)
    if args.code:
        os.environ["RELIABILITY_CODE"] = str(Path(args.code).resolve())
    logging.basicConfig(level=logging.WARNING)
    install_signal_handlers()
    options = Options.short() if args.short else Options()
    if args.rate:
        options = dataclasses.replace(options, rate=args.rate)
    names = [n for n in ALL if n in args.scenarios] if args.scenarios else list(ALL)
    results, failures = asyncio.run(run(names, options, args.keep))
    if failures:
        return 2
    return 0 if all(r.clean and r.recovery_s is not None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
