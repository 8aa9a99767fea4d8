"""`operando bridge`: serve SmartSEM's CZEMApi on the SmartSEM PC to an operando engine on another PC."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from .bridge_server import BridgeServer
from .seam import CZEMApiSeam

DEFAULT_PORT = 7520


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bridge`` sub-command (loaded by the core CLI through the operando.commands entry point)."""
    parser = subparsers.add_parser(
        "bridge", help="serve the Zeiss SmartSEM API over TCP (run this on the SmartSEM PC)",
        description=__doc__)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; the PC's address accepts others)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--token-file", required=True, type=Path,
                        help="file holding the shared token clients must present first")
    parser.add_argument("--seam", default="com", metavar="com|MODULE:CALLABLE",
                        help="what to serve: SmartSEM's COM control (default) or a factory returning a seam, "
                             "e.g. a simulator's fake for a rehearsal")
    parser.set_defaults(handler=run_bridge)


def seam_factory(spec: str) -> Callable[[], CZEMApiSeam]:
    """'com' -> the COM seam; 'package.module:callable' -> that callable (makes a seam when called)."""
    if spec == "com":
        from .com_seam import ComSeam
        return ComSeam
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--seam must be 'com' or 'module:callable', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(factory):
        raise ValueError(f"--seam {spec!r}: {attribute!r} is not a callable of {module_name}")
    return factory


def run_bridge(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"operando bridge: --token-file {str(args.token_file)!r}: cannot read it ({exc.strerror})",
              file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"operando bridge: --token-file {str(args.token_file)!r} is not UTF-8 text; put a long random "
              f"token in it", file=sys.stderr)
        return 2
    if not token:
        print(f"operando bridge: --token-file {str(args.token_file)!r} is empty; put a long random "
              f"token in it", file=sys.stderr)
        return 2
    if not 0 <= args.port < 65536:
        print(f"operando bridge: --port must be 0..65535 (0 = any free port), got {args.port}",
              file=sys.stderr)
        return 2
    try:
        factory = seam_factory(args.seam)
    except (ValueError, ImportError) as exc:
        print(f"operando bridge: {exc}", file=sys.stderr)
        return 2
    server = BridgeServer(factory, token, args.host, args.port)
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - a failed start (port taken, no COM) ends with a clear message
        print(f"operando bridge: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(server: BridgeServer) -> None:
    try:
        await server.serve_forever()
    finally:
        await server.close()
