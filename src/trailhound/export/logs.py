"""Structured logs for ``serve --log-format json``: one JSON object a line on stderr —
``{"time", "level", "logger", "message"}`` — for the follower's and exporter's lines and for the
``logging`` records of the API and uvicorn alike, so a log shipper needs no parsing rules."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import orjson

_WARNING_WORDS = ("failed", "gave up", "cannot", "error", "not read", "retrying")


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def json_line(message: str, logger: str, level: str = "info", at: float | None = None) -> bytes:
    return orjson.dumps({"time": _stamp(time.time() if at is None else at), "level": level, "logger": logger, "message": message})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return json_line(message, record.name, record.levelname.lower(), record.created).decode()


def notifier(logger: str, json: bool) -> Callable[[str], None]:
    """What the follower and exporter call with each of their lines."""
    def plain(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def structured(line: str) -> None:
        message = line.removeprefix("serve: ")
        level = "warning" if any(w in message for w in _WARNING_WORDS) else "info"
        sys.stderr.buffer.write(json_line(message, logger, level) + b"\n")
        sys.stderr.flush()

    return structured if json else plain


def configure(json: bool) -> None:
    """With JSON: every ``logging`` record (the API's errors, uvicorn's warnings) goes out as a JSON line."""
    if not json:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


__all__ = ["JsonFormatter", "configure", "json_line", "notifier"]
