"""Whether any worker is alive, as the API tells teachers: a thread pings the workers every
`worker_watch_s` and keeps the answer, so a job view can say "waiting for a worker" without
each request waiting on a ping."""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery

log = logging.getLogger(__name__)


class WorkerWatch:
    def __init__(self, celery: Celery, every_s: float, ping_timeout_s: float) -> None:
        self.celery, self.every_s, self.ping_timeout_s = celery, every_s, ping_timeout_s
        self.names: list[str] | None = None  # None until the first ping has answered
        self.checked = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scangrade-workers",
                                        daemon=True)

    @property
    def none_alive(self) -> bool:
        """True only when the last ping got no answer at all (unknown counts as alive)."""
        return self.names is not None and not self.names

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ping_timeout_s + 5)

    def check(self) -> None:
        try:
            replies = self.celery.control.ping(timeout=self.ping_timeout_s)
            self.names = sorted(name for reply in replies for name in reply)
        except Exception as exc:  # the broker is away: say nothing rather than guess
            log.info("worker ping failed: %s", exc)
            self.names = None
        self.checked = time.time()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.every_s)
