"""A second process for the report PDFs (setting report_helper): `scangrade grade` hands it
review.pdf and a share of the graded sheets while it draws the other sheets itself, so both
CPUs draw (reportlab is pure Python: threads would take turns on the GIL). Started before
the scans are read, its start-up overlaps the reading; what it is given travels pickled
(a few MB for a class of 300).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor


def _ready() -> None:
    """The helper's start: everything drawing needs, loaded while the scans are read."""
    from worker.grading import graded_sheets, review_pdf  # noqa: F401
    from worker.grading.marked_pages import fonts

    fonts()


@contextlib.contextmanager
def pdf_helper(enabled: bool) -> Iterator[Executor | None]:
    """The helper process, started now; None when it is off or there is one CPU."""
    if not enabled or len(os.sched_getaffinity(0)) < 2:
        yield None
        return
    # spawn: a fresh interpreter, none of this process's threads (JAX's among them)
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ready)
    try:
        pool.submit(int)  # starts the process at once instead of at the first real job
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
