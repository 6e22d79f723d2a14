"""Work done after the response, on a small pool of threads: mail (tenants.mail) and
back-channel logout deliveries (identity_server.signout). One shape for both: a job is
submitted, tracked until it ends, and `drain` waits for the ones queued so far (tests, a
clean shutdown). Each owner keeps its own pool, so a slow SMTP server never holds up logout
deliveries, nor the reverse."""

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait


class JobPool:
    def __init__(self, *, workers: int, name: str):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable, /, *args) -> None:
        """Queues `job(*args)`; returns at once."""
        future = self._pool.submit(job, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float = 30) -> bool:
        """Waits until every job queued so far has finished; False if some are still
        running after `timeout` seconds."""
        with self._lock:
            pending = set(self._pending)
        _done, not_done = futures_wait(pending, timeout=timeout)
        return not not_done
