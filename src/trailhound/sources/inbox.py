"""The follower's side of an SQS queue of S3 notifications: which objects the messages name, and
which messages wait for which objects — a message is deleted only once every object it names is
committed (or gone), never before, so a crash in between redelivers it."""

from __future__ import annotations

from typing import Any

from trailhound.sources.failpoints import failpoint
from trailhound.sources.files import ignored
from trailhound.sources.s3 import S3Object, SourceError, key_time
from trailhound.sources.sqs import Queue
from trailhound.text import printable


class Inbox:
    def __init__(self, url: str, follower: Any) -> None:
        self.queue = Queue(url)
        self.follower = follower  # its prefixes, settings, status, notify, source-error lines and stored ETags
        self.messages: dict[str, set[str]] = {}  # receipt handle -> names it waits for

    def receive(self, listed: set[str]) -> list[S3Object]:
        """The objects the queue's notifications name that are under a --source and not read yet."""
        f, queue = self.follower, self.queue
        try:
            messages = queue.receive(f.settings.sqs_messages, f.settings.sqs_visibility_s)
        except SourceError as exc:
            f._failed(queue.url, str(exc))
            return []
        f._recovered(queue.url)
        wanted: dict[str, S3Object] = {}
        for m in messages:
            if m.problem:
                f.status.sqs_ignored += 1
                f.notify(f"serve: {printable(m.problem)}: not an S3 event notification, deleted (listing still finds new objects)")
            names = self.messages.setdefault(m.receipt, set())
            for n in m.notices:
                location = next((p for p in f.prefixes if p.bucket == n.bucket and n.key.startswith(p.prefix)), None)
                if location is None or ignored(n.key.rsplit("/", 1)[-1]) or n.key.endswith("/"):
                    continue  # another bucket or prefix shares the queue
                obj = S3Object(location, n.key, n.etag, n.size, key_time(n.key, n.time))
                names.add(obj.name)
                wanted.setdefault(obj.name, obj)
        f.status.sqs_received += len(messages)
        known = f._etags(list(wanted))
        read = {name for name, obj in wanted.items() if name in known and (known[name] == obj.etag or not obj.etag)}
        self.settle(read)  # named objects already read (a redelivery, or listing got there first): delete their messages now
        return [o for name, o in wanted.items() if name not in read and name not in listed]

    def settle(self, done: set[str]) -> None:
        """Delete the messages whose objects are all committed (never before: a crash would lose them)."""
        finished = []
        for receipt, names in self.messages.items():
            names -= done
            if not names:
                finished.append(receipt)
        if not finished:
            return
        f = self.follower
        failpoint("follow:before-sqs-delete")
        try:
            self.queue.delete(finished)
        except SourceError as exc:  # redelivered later; the checkpoints skip what they name
            f._failed(self.queue.url, str(exc))
            return
        f.status.sqs_deleted += len(finished)
        for receipt in finished:
            del self.messages[receipt]

    def forget(self) -> None:
        self.messages.clear()


__all__ = ["Inbox"]
