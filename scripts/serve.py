#!/usr/bin/env python3
"""Serve the playground (or a built site/) on localhost: `make serve` uses this, so a first look
needs no native build. Python's own static server, with the MIME types a module worker and
wasm streaming need and headers that keep a rebuilt page from being served stale.

    python3 scripts/serve.py [--port 8080] [--root .]
"""
import argparse
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".css": "text/css",
    ".html": "text/html",
    ".gguf": "application/octet-stream",
    ".safetensors": "application/octet-stream",
}


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if len(args) > 1 and str(args[1]).startswith(("4", "5")):
            super().log_message(format, *args)


def main():
    parser = argparse.ArgumentParser(description="Serve the Deviate playground on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    root = args.root.resolve()
    if not (root / "index.html").is_file():
        sys.exit(f"serve: {root} has no index.html: run from the repository root or pass --root")
    if not any((root / "pkg").glob("deviate*.js")):
        print("serve: warning: pkg/deviate.js is missing; build it with `make wasm`", file=sys.stderr)
    handler = functools.partial(Handler, directory=str(root))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    except OSError as error:
        sys.exit(f"serve: cannot listen on port {args.port}: {error}")
    host, port = server.server_address[:2]
    try:
        # One write, so a reader that stops at the address never cuts the line.
        sys.stdout.write(f"serving {root} at http://{host}:{port}/\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # whoever started us stopped reading; go on serving
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
