"""One analyst cannot starve the others: per-user job limit and round-robin dispatch.

``CQOX_MAX_JOBS_PER_USER`` bounds a user's queued + running jobs (429 beyond, checked
at request time); the runner serves users round-robin, so a user who queues many
jobs does not delay another user's single job behind all of them.
"""

from __future__ import annotations

from typing import Any

from cqox.server.jobs import FairQueue
from tests.api.conftest import Api, assert_error, small_frame
from tests.security.conftest import poll_job

#: A job that keeps the single worker busy for a few seconds (serial bootstrap).
SLOW = {"bootstrap": {"n_boot": 20_000, "n_jobs": 1, "base_estimator": "ipw"}}


def _submit(api: Api, h: dict[str, str], ds: str, params: dict[str, Any] | None = None) -> Any:
    estimators = list(params) if params else ["ipw"]
    return api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "estimators": estimators,
            "options": {"params": params or {}, "wait_s": 0, "time_limit_s": 60},
        },
    )


def test_the_queue_serves_users_round_robin() -> None:
    q = FairQueue()
    for job in ("a1", "a2", "a3"):
        q.put(job, "alice")
    q.put("b1", "bob")
    q.put("c1", "carol")
    q.put("b2", "bob")
    assert q.qsize() == 6
    order = [q.get() for _ in range(6)]
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]
    q.stop()
    assert q.get() is None


def test_a_user_over_the_job_limit_gets_429_and_others_are_not_affected(
    secure_api: Api,
) -> None:
    api = secure_api
    limit = api.settings.max_jobs_per_user
    alice, bob = api.user("analyst"), api.user("analyst")
    ds_a, ds_b = api.dataset(alice), api.dataset(bob)
    jobs = []
    try:
        for _ in range(limit):
            r = _submit(api, alice, ds_a, SLOW)
            assert r.status_code == 202, r.text
            jobs.append(r.json()["job_id"])
        r = _submit(api, alice, ds_a)
        err = assert_error(r, 429, "TOO_MANY_JOBS")
        assert err["details"] == {"active_jobs": limit, "limit": limit}
        assert "CQOX_MAX_JOBS_PER_USER" in err["message"]
        assert int(r.headers["Retry-After"]) > 0
        # another analyst is not refused because of alice
        r = _submit(api, bob, ds_b)
        assert r.status_code == 202, r.text
        jobs_b = [r.json()["job_id"]]
    finally:
        for job_id in jobs:
            api.client.delete(f"/api/jobs/{job_id}", headers=alice)
    # once alice's jobs ended she may run again
    for job_id in jobs:
        poll_job(api, alice, job_id, lambda j: j["status"] == "cancelled")
    r = _submit(api, alice, ds_a)
    assert r.status_code in (200, 202), r.text
    for job_id in [*jobs_b, r.json()["job_id"]]:
        poll_job(
            api, bob if job_id in jobs_b else alice, job_id, lambda j: j["status"] == "succeeded"
        )


def test_a_second_users_job_is_not_starved_by_a_first_users_many_jobs(secure_api: Api) -> None:
    api = secure_api
    alice, bob = api.user("analyst"), api.user("analyst")
    ds_a = api.dataset(alice, small_frame(n=300, seed=1))
    ds_b = api.dataset(bob, small_frame(n=300, seed=2))
    # alice's slow job holds the one worker while both users queue
    blocker = _submit(api, alice, ds_a, SLOW).json()["job_id"]
    poll_job(api, alice, blocker, lambda j: j["status"] == "running")
    queued_a = [_submit(api, alice, ds_a).json()["job_id"] for _ in range(3)]
    queued_b = _submit(api, bob, ds_b).json()["job_id"]
    api.client.delete(f"/api/jobs/{blocker}", headers=alice)
    done = {
        j: poll_job(api, h, j, lambda x: x["status"] == "succeeded")
        for j, h in [*((j, alice) for j in queued_a), (queued_b, bob)]
    }
    started = sorted(done, key=lambda j: done[j]["started_at"])
    # FIFO would run bob's job last; round-robin runs it right after alice's first
    assert started.index(queued_b) == 1, [done[j]["started_at"] for j in started]
