"""``modules.errors`` with the same printing behaviour, plus a record of every report for tests."""

from __future__ import annotations

import sys
import textwrap
import traceback
from dataclasses import dataclass

exception_records: list[dict] = []


@dataclass
class Report:
    """One ``report``/``display`` call; ``exception`` is the exception being handled, if any."""

    message: str
    exc_info: bool
    exception: BaseException | None


reports: list[Report] = []
"""Test hook: every reported error in order (A1111 only keeps the last five exceptions)."""


def format_traceback(tb) -> list[list[str]]:
    return [[f"{x.filename}, line {x.lineno}, {x.name}", x.line] for x in traceback.extract_tb(tb)]


def format_exception(e: BaseException, tb) -> dict:
    return {"exception": str(e), "traceback": format_traceback(tb)}


def get_exceptions() -> list[dict]:
    return list(reversed(exception_records))


def record_exception() -> None:
    _, e, tb = sys.exc_info()
    if e is None:
        return

    if exception_records and exception_records[-1] == e:
        return

    exception_records.append(format_exception(e, tb))
    if len(exception_records) > 5:
        exception_records.pop(0)


def report(message: str, *, exc_info: bool = False) -> None:
    record_exception()
    reports.append(Report(message, exc_info, sys.exc_info()[1]))

    for line in message.splitlines():
        print("***", line, file=sys.stderr)
    if exc_info:
        print(textwrap.indent(traceback.format_exc(), "    "), file=sys.stderr)
        print("---", file=sys.stderr)


def print_error_explanation(message: str) -> None:
    record_exception()

    lines = message.strip().split("\n")
    max_len = max(len(x) for x in lines)
    print("=" * max_len, file=sys.stderr)
    for line in lines:
        print(line, file=sys.stderr)
    print("=" * max_len, file=sys.stderr)


def display(e: Exception, task, *, full_traceback: bool = False) -> None:
    record_exception()
    reports.append(Report(f"{task or 'error'}: {type(e).__name__}", True, e))

    print(f"{task or 'error'}: {type(e).__name__}", file=sys.stderr)
    te = traceback.TracebackException.from_exception(e)
    if full_traceback:
        te.stack = traceback.StackSummary(traceback.extract_stack()[:-2] + te.stack)
    print(*te.format(), sep="", file=sys.stderr)


already_displayed: dict[str, int] = {}


def display_once(e: Exception, task) -> None:
    record_exception()

    if task in already_displayed:
        return

    display(e, task)
    already_displayed[task] = 1
