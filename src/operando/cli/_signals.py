"""Ctrl-C and SIGTERM ask a running experiment to abort (cell safe, beam blanked, file closed) instead of killing it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = ((signal.SIGINT, "interrupted (Ctrl-C)"), (signal.SIGTERM, "terminated"))


@contextmanager
def abort_on_signals(experiment: Any) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM call ``experiment.request_abort`` (where the loop can take signals)."""
    loop = asyncio.get_running_loop()
    handled = []
    for number, reason in SIGNALS:
        try:
            loop.add_signal_handler(number, experiment.request_abort, reason)
            handled.append(number)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    try:
        yield
    finally:
        for number in handled:
            loop.remove_signal_handler(number)
