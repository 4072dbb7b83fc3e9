"""``python -m common.scripted_model --scenario demo|FILE --port N``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from common.scripted_model.scenario import BUILTIN, ScenarioError, load
from common.scripted_model.server import ScriptedModelServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.scripted_model",
        description="Serve a scripted Responses-API model (not a real LLM) on loopback.",
    )
    parser.add_argument(
        "--scenario",
        default="demo",
        help=f"a built-in name ({', '.join(sorted(BUILTIN))}) or a JSON scenario file",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        scenario = load(args.scenario)
    except (ScenarioError, OSError, ValueError) as exc:
        print(f"cannot load scenario: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        server = ScriptedModelServer(scenario, host=args.host, port=args.port)
        await server.start()
        print(f"base_url={server.base_url} model={server.model}", flush=True)
        try:
            await server.serve_forever()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
