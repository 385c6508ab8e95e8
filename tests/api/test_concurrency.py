"""Concurrent requests on one app: no lock errors, no lost writes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.api.conftest import Api, small_frame

THREADS = 16


def test_concurrent_uploads_and_reads_all_succeed(api: Api) -> None:
    h = api.user("analyst")
    raw = small_frame(200).to_csv(index=False).encode()

    def work(i: int) -> tuple[int, int]:
        up = api.client.post("/api/upload", headers=h, files={"file": (f"d{i}.csv", raw)})
        listed = api.client.get("/api/datasets", headers=h)
        return up.status_code, listed.status_code

    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(work, range(3 * THREADS)))
    assert codes == [(201, 200)] * (3 * THREADS)
    assert len(api.client.get("/api/datasets", headers=h).json()["datasets"]) == 3 * THREADS
