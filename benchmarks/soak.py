"""Soak: the fault suite's open-loop mixed load for N minutes, no fault, on a RabbitMQ node
and a PostgreSQL cluster of its own (see `reliability`), each service its own process.

    python3 -m benchmarks.soak                 # 10 minutes at 40 requests/s
    python3 -m benchmarks.soak --minutes 2 --rate 70  # the load of issue 12

Prints the RSS of every service process before the load, after each minute and at the end,
then one JSON line: throughput, p50/p99 latency of ok replies, RSS per service at start and
end, and the fault suite's audit of the whole run (lost, duplicated, wrong_replies,
stuck_codes must all be 0 without a fault).
"""

import argparse
import asyncio
import json
import sys
import time

from reliability.bench import Bench
from reliability.cleanup import install_signal_handlers
from reliability.lab import Lab, Options
from reliability.records import read
from reliability.report import latency_ms


def _rss(bench: Bench) -> dict[str, float | None]:
    assert bench.deployment is not None
    return {k: None if v is None else round(v, 1) for k, v in bench.deployment.rss_mb().items()}


async def soak(minutes: float, rate: float) -> dict[str, object]:
    lab = Lab()
    try:
        brokers = await lab.rabbit(1)
        async with Bench(lab, "soak", Options(rate=rate), brokers) as bench:
            at_start = _rss(bench)
            print(f"# rss at start (MB): {at_start}", file=sys.stderr, flush=True)
            start = await bench.start_load(minutes * 60 + 60)
            for minute in range(1, int(minutes) + 1):
                await bench.until(start + minute * 60)
                print(f"# rss after {minute} min (MB): {_rss(bench)}", file=sys.stderr, flush=True)
            await bench.finish_load(start + minutes * 60)
            at_end = _rss(bench)
            records = read(bench.load_out)
            result = await bench.audit([])
            print(result.detail_line(), file=sys.stderr)
    finally:
        lab.close()
    ok = [r for r in records if r.ok]
    window = max(r.t_reply or 0.0 for r in ok) - start if ok else 0.0
    return {
        "name": "soak",
        "minutes": minutes,
        "rate": rate,
        "sent": len(records),
        "ok": len(ok),
        "throughput_per_s": round(len(ok) / window, 1) if window else 0.0,
        **{f"{k}_ms": v for k, v in latency_ms(records).items()},
        "rss_mb": {name: [at_start[name], at_end[name]] for name in at_start},
        "lost": result.lost,
        "duplicated": result.duplicated,
        "wrong_replies": result.wrong_replies,
        "stuck_codes": result.stuck_codes,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=40.0, help="requests per second")
    args = p.parse_args()
    install_signal_handlers()
    began = time.monotonic()
    figures = asyncio.run(soak(args.minutes, args.rate))
    print(f"# soak took {time.monotonic() - began:.0f}s", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
