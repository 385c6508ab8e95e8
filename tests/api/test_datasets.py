"""Datasets: upload in every format, list, detail, delete; stored as Parquet with a checksum."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
import pytest

from tests.api.conftest import Api, assert_error, small_frame


def _bytes(df: pd.DataFrame, fmt: str) -> tuple[str, bytes]:
    if fmt == "csv":
        return "d.csv", df.to_csv(index=False).encode()
    if fmt == "tsv":
        return "d.tsv", df.to_csv(index=False, sep="\t").encode()
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return "d.parquet", buf.getvalue()
    if fmt == "excel":
        buf = io.BytesIO()
        df.to_excel(buf, index=False)
        return "d.xlsx", buf.getvalue()
    if fmt == "json":
        return "d.json", df.to_json(orient="records").encode()
    if fmt == "latin1":
        out = df.head(50).assign(city="Zürich").to_csv(index=False).encode("latin-1")
        return "d.csv", out
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "excel", "json", "latin1"])
def test_upload_reads_every_format_and_infers_roles(api: Api, fmt: str) -> None:
    df = small_frame(120)
    name, raw = _bytes(df, fmt)
    r = api.upload(api.headers("analyst"), raw=raw, name=name)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["rows"] == (50 if fmt == "latin1" else 120)
    assert body["columns"] == df.shape[1] + (1 if fmt == "latin1" else 0)
    assert body["size"] == len(raw)
    assert body["format"] == ("excel" if fmt == "excel" else "csv" if fmt == "latin1" else fmt)
    if fmt in ("csv", "tsv"):
        assert body["encoding"] == "utf-8"
    if fmt == "latin1":
        assert body["encoding"] and body["encoding"] != "utf-8"
    inferred = {g["role"]: g for g in body["roles"]["inferred"]}
    assert inferred["outcome"]["column"] == "y" and inferred["treatment"]["column"] == "t"
    assert 0 < inferred["treatment"]["confidence"] <= 1
    assert "domain" in body["domain"]


def test_stored_file_is_parquet_with_the_reported_checksum(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    detail = api.client.get(f"/api/datasets/{ds}", headers=h).json()
    path = api.settings.data_dir / "datasets" / f"{ds}.parquet"
    data = path.read_bytes()
    assert data[:4] == b"PAR1"
    assert hashlib.sha256(data).hexdigest() == detail["checksum"]
    assert pd.read_parquet(path).shape == (400, 5)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_dataset_detail_has_schema_statistics_and_roles(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.get(f"/api/datasets/{ds}", headers=h)
    assert r.status_code == 200
    d = r.json()
    assert [c["name"] for c in d["schema"]] == ["y", "t", "x1", "x2", "x3"]
    assert d["statistics"]["rows"] == 400
    stats = {c["name"]: c for c in d["statistics"]["column_profiles"]}
    assert abs(stats["t"]["mean"] - small_frame()["t"].mean()) < 1e-12
    assert d["roles"]["outcome"] == "y"


def test_list_and_delete_datasets(api: Api) -> None:
    h = api.user("analyst")
    a, b = api.dataset(h), api.dataset(h)
    listed = [
        d["dataset_id"] for d in api.client.get("/api/datasets", headers=h).json()["datasets"]
    ]
    assert set(listed) == {a, b}
    r = api.client.delete(f"/api/datasets/{a}", headers=h)
    assert r.status_code == 200
    assert not (api.settings.data_dir / "datasets" / f"{a}.parquet").exists()
    assert_error(api.client.get(f"/api/datasets/{a}", headers=h), 404, "NOT_FOUND")
    assert_error(api.client.delete(f"/api/datasets/{a}", headers=h), 404, "NOT_FOUND")
    listed = [
        d["dataset_id"] for d in api.client.get("/api/datasets", headers=h).json()["datasets"]
    ]
    assert listed == [b]


def test_admin_sees_every_dataset(api: Api) -> None:
    owner = api.user("analyst")
    ds = api.dataset(owner)
    admin = api.headers("admin")
    assert api.client.get(f"/api/datasets/{ds}", headers=admin).status_code == 200
    ids = [
        d["dataset_id"] for d in api.client.get("/api/datasets", headers=admin).json()["datasets"]
    ]
    assert ds in ids
