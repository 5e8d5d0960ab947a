"""Replace a library function for one thread, without making other threads wait.

ultralytics offers no hook where we need one (which checkpoint to unpickle, which device to use,
where not to create output folders), so the function it calls there is replaced. The replacement
must apply to the calling thread only: another model may be detecting in another thread, and
another extension may use ultralytics at the same time.

So the attribute is swapped once for a dispatcher that looks up the calling thread's replacement
and otherwise forwards to the original. A lock is held only while the dispatcher is put in place
or taken out again (reference-counted), never while the patched code runs: two models predicting
in two threads do not queue behind each other here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

_lock = threading.Lock()
_dispatchers: dict[tuple[int, str], _Dispatcher] = {}


class _Dispatcher:
    """Stands in for `owner.name` while any thread has it patched."""

    def __init__(self, owner: Any, name: str, original: Callable[..., Any]) -> None:
        self.owner = owner
        self.name = name
        self.original = original
        self.users = 0
        self.local = threading.local()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        chosen = getattr(self.local, "replacement", None) or self.original
        return chosen(*args, **kwargs)


@contextlib.contextmanager
def patched_for_this_thread(
    owner: Any, name: str, replacement: Callable[..., Any]
) -> Iterator[None]:
    """`owner.name` is `replacement` for the calling thread, for the duration of the block."""
    key = (id(owner), name)
    with _lock:
        dispatcher = _dispatchers.get(key)
        if dispatcher is None:
            dispatcher = _Dispatcher(owner, name, getattr(owner, name))
            setattr(owner, name, dispatcher)
            _dispatchers[key] = dispatcher
        dispatcher.users += 1
    outer = getattr(dispatcher.local, "replacement", None)  # a nested patch of the same name
    dispatcher.local.replacement = replacement
    try:
        yield
    finally:
        dispatcher.local.replacement = outer
        with _lock:
            dispatcher.users -= 1
            if dispatcher.users == 0:
                del _dispatchers[key]
                if getattr(owner, name, None) is dispatcher:
                    setattr(owner, name, dispatcher.original)
