"""Refuse and count every network attempt made in this process.

The start-up target says "offline": listing models must never reach the network (the original
checked for updates and fetched model lists at import). Counting attempts, rather than trusting
that none happen, turns that into a number the report can show. Every benchmark process installs
the guard first, so a stray download during detection would show up too.
"""

from __future__ import annotations

import socket
import threading
import traceback
from typing import Any, NoReturn

ATTEMPTS_ERROR = "network access refused by the benchmark"


class NetworkRefusedError(OSError):
    """Raised instead of a name lookup or a connection; an OSError, as a real failure would be,
    so code that handles being offline carries on and the attempt is still counted."""


class NetworkGuard:
    """Patches the socket entry points every client goes through (DNS first, then connect)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._lock = threading.Lock()

    def install(self) -> NetworkGuard:
        socket.getaddrinfo = self._refuse  # type: ignore[assignment]
        socket.create_connection = self._refuse  # type: ignore[assignment]
        socket.socket.connect = self._refuse  # type: ignore[method-assign]
        socket.socket.connect_ex = self._refuse  # type: ignore[method-assign]
        return self

    def count(self) -> int:
        with self._lock:
            return len(self.attempts)

    def since(self, start: int) -> list[str]:
        """Where the attempts after the first `start` ones came from."""
        with self._lock:
            return self.attempts[start:]

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        # The caller's frames, not the guard's: enough to tell which package tried.
        stack = traceback.extract_stack()[:-1]
        origin = " <- ".join(f"{frame.filename}:{frame.lineno}" for frame in reversed(stack[-4:]))
        with self._lock:
            self.attempts.append(origin)
        raise NetworkRefusedError(f"{ATTEMPTS_ERROR}: {args[:2]!r}")
