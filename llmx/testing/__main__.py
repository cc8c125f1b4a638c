"""``python -m llmx.testing``: run :class:`~llmx.testing.FakeOpenAI` as a standalone
server, answering every chat completion with one fixed reply.

It prints the base URL (``http://HOST:PORT/v1``) as its first stdout line and serves
until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from llmx.testing._replies import Reply, structured, text
from llmx.testing._server import FakeOpenAI


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m llmx.testing",
        description="Run a fake OpenAI-compatible server; prints its base URL on stdout.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--reply-json", help="JSON answered via structured() to every request")
    group.add_argument("--reply-text", help="raw assistant content answered to every request")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    default: Reply | None = None
    if args.reply_json is not None:
        default = structured(json.loads(args.reply_json))
    elif args.reply_text is not None:
        default = text(args.reply_text)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # nothing outside this process can read recorded requests: keep none
    server = FakeOpenAI(
        default=default, latency=args.latency, host=args.host, port=args.port, keep_requests=0
    )
    with server as srv:
        sys.stdout.write(srv.base_url + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
