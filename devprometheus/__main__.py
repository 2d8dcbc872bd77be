"""`python -m devprometheus serve --demo`: a Prometheus on 127.0.0.1 with the demo's traffic.

Prints the URL as its first line (or `unavailable: WHY` and exits 3 when Debian's
prometheus package is missing), then serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from devprometheus.demo import STEP, demo_series
from devprometheus.openmetrics import openmetrics_text
from devprometheus.server import blocks_build, prometheus_available, prometheus_start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devprometheus")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the demo mesh's traffic on loopback")
    serve.add_argument("--demo", action="store_true", required=True)
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--cache", default="var/demo-prometheus")
    args = parser.parse_args(argv)
    if not prometheus_available():
        print("unavailable: Debian's prometheus package is not installed", flush=True)
        return 3
    end = int(time.time()) // STEP * STEP
    cache = Path(args.cache)
    if cache.exists():  # blocks of earlier starts end at other moments: keep only the new
        for old in cache.iterdir():
            shutil.rmtree(old, ignore_errors=True)
    blocks = blocks_build(openmetrics_text(demo_series(end), step=STEP), cache_dir=cache)
    running = prometheus_start(blocks, workdir=cache, port=args.port)
    print(running.url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while running.process.poll() is None:
            time.sleep(1)
        return running.process.returncode or 1
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        running.stop()


if __name__ == "__main__":
    sys.exit(main())
