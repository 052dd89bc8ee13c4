"""Job state in a real Redis: late tasks never resurrect a lost job as a stub, and the
recovery sweep can tell which jobs have state."""

from __future__ import annotations

import time

import pytest

from tests.helpers.service import Cluster
from worker.service.job_state import JobStatus, JobStore, connect


@pytest.fixture
def store(cluster: Cluster) -> JobStore:
    return JobStore(connect(cluster.redis.url), ttl_s=600)


def test_a_late_chunk_does_not_recreate_a_lost_job(store: JobStore) -> None:
    store.create("lostjob", "exam1", "scans.pdf", 10, 1.0)
    store.forget("lostjob")  # Redis lost it (restart without persistence)
    assert store.record_chunk("lostjob", "1-5", 5, []) is False
    store.mark_grading("lostjob")
    store.mark_failed("lostjob", "late failure")
    assert store.get("lostjob") is None  # still lost, so it can be resumed
    assert not store.client.exists(store._key("lostjob"))


def test_a_fragment_of_state_reads_as_lost(store: JobStore) -> None:
    store.client.hset(store._key("fragment"), mapping={"pages_done": 4, "updated": 1.0})
    assert store.get("fragment") is None


def test_chunks_count_once_and_updates_apply_to_a_live_job(store: JobStore) -> None:
    store.create("livejob", "exam1", "scans.pdf", 10, 1.0)
    assert store.record_chunk("livejob", "1-5", 5, []) is True
    assert store.record_chunk("livejob", "1-5", 5, []) is False
    store.mark_grading("livejob")
    state = store.get("livejob")
    assert state is not None
    assert (state.pages_done, state.chunks_done, state.status) == (5, 1, JobStatus.GRADING)


def test_which_jobs_have_state(store: JobStore) -> None:
    store.create("kept", "exam2", "scans.pdf", 3, 1.0)
    store.create("gone", "exam2", "scans.pdf", 3, 1.0)
    store.forget("gone")
    assert store.existing(["kept", "gone", "never"]) == {"kept"}
    assert store.existing([]) == set()


def test_the_first_chunk_plan_wins(store: JobStore) -> None:
    """A chord sent twice, planned on a CPU worker (32 pages) and a GPU worker (64), must
    use one set of chunks, or progress would count overlapping ranges twice."""
    store.create("planned", "exam3", "scans.pdf", 100, 1.0)
    assert store.chunk_pages("planned", 32) == 32
    assert store.chunk_pages("planned", 64) == 32
    assert store.chunk_pages("nojob", 64) == 64
    assert not store.client.exists(store._key("nojob"))


def test_the_reports_are_held_by_one_writer_renewed_while_it_lives(store: JobStore) -> None:
    ttl_s = 0.3
    hold = store.hold_reports("writer", ttl_s)
    assert hold is not None
    with hold:
        time.sleep(3 * ttl_s)  # renewed meanwhile: still held
        assert store.hold_reports("writer", ttl_s) is None
    again = store.hold_reports("writer", ttl_s)  # freed on exit
    assert again is not None
    # a writer that died (never entered, never renewed): the hold lapses after its ttl
    time.sleep(2 * ttl_s)
    assert store.hold_reports("writer", ttl_s) is not None


def test_state_is_recreated_only_when_lost(store: JobStore) -> None:
    store.create("alive", "exam3", "scans.pdf", 4, 1.0)
    store.record_chunk("alive", "00001-00002", 2, [])
    assert store.create_if_lost("alive", "exam3", "scans.pdf", 4, 1.0) is False
    assert store.get("alive").pages_done == 2  # untouched
    store.client.delete(store._key("alive"))  # the hash lost, its chunk set left over
    assert store.create_if_lost("alive", "exam3", "scans.pdf", 4, 1.0) is True
    assert store.finished_chunks("alive") == set()  # counted afresh, never half
    assert store.get("alive").pages_done == 0
