"""Run every benchmark and write bench/results.json.

`python -m bench [--quick]`: the platform against the real codex binary and
the scripted model, on an embedded PostgreSQL (or CCPLANE_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench import reliability
from bench.scenarios import BENCHMARKS, run_all

RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, object]:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeatable); its figures replace those in --out, the rest are kept",
    )
    parser.add_argument(
        "--reliability",
        action="store_true",
        help="run only the fault suite (tests/reliability); the benchmarks' figures in --out are kept",
    )
    parser.add_argument("--soak", action="store_true", help="the fault suite bigger and longer (make soak)")
    args = parser.parse_args()
    only = frozenset(args.only or ())
    logging.basicConfig(level=logging.WARNING)
    earlier = json.loads(args.out.read_text()) if args.out.is_file() else {}
    started = time.time()
    if args.reliability:
        figures = earlier.get("benchmarks", {})
    else:
        with tempfile.TemporaryDirectory(prefix="ccplane-bench-") as tmp:
            figures = asyncio.run(run_all(Path(tmp), quick=args.quick, only=only))
        if only:
            figures = {**earlier.get("benchmarks", {}), **figures}
    if args.reliability or not only:
        proofs = reliability.run(soak=args.soak)
    else:
        proofs = earlier.get("reliability", {})
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "commit": commit(),
        "machine": machine(),
        "duration_s": round(time.time() - started, 1),
        "benchmarks": figures,
        "reliability": proofs,
    }
    if only or args.reliability:
        # The other figures come from an earlier full run (its date is not kept).
        result["measured_in_this_run"] = ["reliability"] if args.reliability else sorted(only)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0 if not proofs or proofs.get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
