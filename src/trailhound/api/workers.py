"""``serve --workers N``: N processes answering the API on one listening socket.

One Python process spends most of a request holding the GIL (SigV4, the model check, JSON, the
driver), so one process tops out near a core however many threads it has; more processes on the same
socket let the kernel hand connections to whichever is free. The first process is the one ``serve``
started: it alone runs the follower and the exporter (they write, and must run once); the others are
forked from it before it opens the store or starts a thread, and each opens its own connections.

What each process caches (``context.Scopes``: detectors and memberships, 2 s; ``app.Keys``: access keys,
60 s) stays per process, but a change made through the API clears every worker's scopes at once
through a counter in memory they share (``generation``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

from trailhound.children import die_with

log = logging.getLogger("trailhound.api")


class Workers:
    def __init__(self, host: str, port: int, count: int) -> None:
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=2048)
        self.count = count
        self.generation = multiprocessing.RawValue("Q", 0)  # shared with the forked workers (anonymous shared memory)
        self.pids: list[int] = []

    def fork(self, run: Callable[[], None]) -> None:
        """Start count - 1 workers, each calling ``run`` and exiting; returns in the first process only."""
        parent = os.getpid()
        for _ in range(self.count - 1):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    die_with(parent)
                    run()
                except BaseException:  # noqa: BLE001  (a worker must never return into the first process's code)
                    traceback.print_exc()
                    code = 1
                finally:
                    os._exit(code)
            self.pids.append(pid)

    def scopes(self) -> Any:
        from trailhound.api.context import Scopes

        return Scopes(self.generation)

    def serve(self, app: Any, servers: list[Any] | None = None) -> None:
        """Answer on the shared socket until SIGTERM/SIGINT (``servers`` collects the server, for a caller's
        signal handler to stop)."""
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        if servers is not None:
            servers.append(server)
        server.run(sockets=[self.socket])

    def stop(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in self.pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.socket.close()


