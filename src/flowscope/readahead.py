"""Read ahead on a thread: the next items are produced while the consumer works on this one.

One mechanism for the reader (decompressing and cutting blocks) and the pipeline (parsing the
next batch while this one is enriched). Items are handed on as soon as they exist, so a pipe
left open still yields what came through it; an error of the producer is raised in the
consumer; when the consumer stops early, the producer stops at its next item and closes its
source.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T], size: int, name: str) -> Iterator[T]:
    """``items``, produced on a thread at most ``size`` ahead of the consumer."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()  # the consumer stopped: let go of the input now
                    return
            put(_END)
        except BaseException as e:  # handed to the consumer, raised there
            put(e)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        with suppress(queue.Empty):
            while True:
                ahead.get_nowait()
