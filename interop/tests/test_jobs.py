"""Golden tests of the seed jobs: seeded producer input → `sluice run JOB --available-now --finish`
→ the job's sink output, compared with the result computed here with pandas from the input
records read back from the topic (never by sluice).

Each test runs a copy of `jobs/<job>.toml` in a temporary directory with its topic and name made
unique (the broker is shared), console sinks turned into JSON sinks (to be read back) and S3
paths into local ones; the computation itself is the job file's.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from helpers import confluent_read_all
from kafka_server import SluiceServer

REPO = Path(__file__).resolve().parents[2]


def sluice(cwd: Path, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_SERVER", "KAFKA_BOOTSTRAP_SERVERS", "SLUICE_LOG")}
    proc = subprocess.run([str(SluiceServer.binary()), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"sluice {' '.join(map(str, args))} exited with {proc.returncode}\n"
                             f"--- stdout ---\n{proc.stdout.decode(errors='replace')[-3000:]}\n"
                             f"--- stderr ---\n{proc.stderr.decode(errors='replace')[-3000:]}")
    return proc


def job_copy(job: str, tmp: Path, topic: str) -> tuple[Path, str]:
    """jobs/<job>.toml with a unique name and topic, console sinks as JSON sinks under out/<query>,
    s3:// paths under out/; returns the file and the unique name."""
    text = (REPO / "jobs" / f"{job}.toml").read_text()
    name = f"{job}-{uuid.uuid4().hex[:8]}"
    text = re.sub(r'^name = "[^"]+"', f'name = "{name}"', text, count=1, flags=re.M)
    text = re.sub(r'^topic = "[^"]+"', f'topic = "{topic}"', text, count=1, flags=re.M)
    text = text.replace("s3://sluice-demo/", "out/")
    blocks = text.split("[[query]]")
    for i in range(1, len(blocks)):
        q = re.search(r'^name = "([^"]+)"', blocks[i], flags=re.M).group(1)
        blocks[i] = blocks[i].replace('kind = "console"', f'kind = "json"\npath = "out/{q}"')
        blocks[i] = blocks[i].replace("truncate = false\n", "")
    text = "[[query]]".join(blocks)
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path, name


def run_job(tmp: Path, job_file: Path, bootstrap: str, *extra) -> str:
    proc = sluice(tmp, "run", job_file, "-b", bootstrap, "--available-now", "--finish", "--quiet", *extra)
    return proc.stderr.decode(errors="replace")


def json_rows(d: Path) -> list[dict]:
    """Rows of the published JSON files under d (not staged), in file-name order."""
    rows = []
    for f in sorted(p for p in d.rglob("*.jsonl") if "_sluice_staging" not in p.parts):
        rows.extend(json.loads(line) for line in f.read_text().splitlines())
    return rows


def last_file_rows(d: Path) -> list[dict]:
    files = sorted(p for p in d.rglob("*.jsonl") if "_sluice_staging" not in p.parts)
    assert files, f"no published files in {d}"
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


def half_up(x: float, digits: int) -> float:
    """Spark's round(): half away from zero, on the decimal value of the double."""
    from decimal import ROUND_HALF_UP, Decimal
    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def utc(x) -> pd.Timestamp:
    t = pd.Timestamp(str(x).replace("%3A", ":"))
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=tol)


# --- seed 003: people -----------------------------------------------------------------------

def test_people_aggregates_per_person(bootstrap, tmp_path):
    topic = f"people-{uuid.uuid4().hex[:8]}"
    sluice(tmp_path, "produce", "people", "-b", bootstrap, "--topic", topic, "--rate", 0, "--count", 200,
           "--seed", 21)
    job, name = job_copy("people", tmp_path, topic)
    results = f"results-{name}"
    job.write_text(job.read_text().replace('topic = "results"', f'topic = "{results}"'))
    run_job(tmp_path, job, bootstrap)

    inp = pd.DataFrame([json.loads(r.value) for r in confluent_read_all(bootstrap, topic)])
    assert len(inp) == 200
    g = inp.groupby(["name", "surname"])
    want = pd.DataFrame({
        "messages": g.size(),
        "total_amount": g["amount"].sum().map(lambda x: half_up(x, 2)),
        "avg_delta_t": g["delta_t"].mean().map(lambda x: half_up(x, 2)),
        "flagged": g["flag"].sum(),
    })
    # Update mode: the last row per person on the results topic is its final value.
    latest = {}
    for r in confluent_read_all(bootstrap, results):
        v = json.loads(r.value)
        assert r.key.decode() == v["name"]
        latest[(v["name"], v["surname"])] = v
    assert set(latest) == set(want.index)
    for key, row in want.iterrows():
        got = latest[key]
        assert got["messages"] == row["messages"] and got["flagged"] == row["flagged"], (key, got, row)
        assert close(got["total_amount"], row["total_amount"], 0.0051), (key, got, row)
        assert close(got["avg_delta_t"], row["avg_delta_t"], 0.0051), (key, got, row)


# --- seed 002: transactions -----------------------------------------------------------------

def test_transactions_sliding_windows(bootstrap, tmp_path):
    topic = f"transactions-{uuid.uuid4().hex[:8]}"
    sluice(tmp_path, "generate", "transactions", "-o", "tx.csv", "--rows", 300, "--seed", 5, "--as-of", "2026-11-20")
    sluice(tmp_path, "produce", "csv", "tx.csv", "-b", bootstrap, "--topic", topic, "--batch-size", 50,
           "--sleep", "1200ms", "--max-records", 0)
    job, _ = job_copy("transactions", tmp_path, topic)
    job.write_text(job.read_text().replace('topic = "customer-transactions-dead-letters"',
                                           f'topic = "{topic}-dead-letters"'))
    run_job(tmp_path, job, bootstrap)

    inp = pd.DataFrame([json.loads(r.value) for r in confluent_read_all(bootstrap, topic)])
    assert len(inp) == 300
    # Sliding windows of 10 s every 5 s: each record is in the windows starting at the two
    # multiples of 5 s at most 10 s before it.
    t_ms = (inp["producer_timestamp"] * 1000).round().astype("int64")
    first = (t_ms // 5000) * 5000
    rows = pd.concat([inp.assign(window_start=first), inp.assign(window_start=first - 5000)])
    g = rows.groupby("window_start")
    want = pd.DataFrame({
        "record_count": g.size(),
        "total_transaction_value": g["final_amount"].sum().map(lambda x: half_up(x, 2)),
        "avg_transaction_value": g["final_amount"].mean().map(lambda x: half_up(x, 2)),
        "unique_customers": g["customer_id"].nunique(),
        "min_batch": g["batch_number"].min(),
        "max_batch": g["batch_number"].max(),
    })
    got = {}
    for r in json_rows(tmp_path / "out" / "sliding_window_counts"):
        got[int(utc(r["window_start"]).value // 1_000_000)] = r  # update mode: later rows replace earlier ones
    assert sorted(got) == sorted(want.index), (sorted(got), sorted(want.index))
    for start, row in want.iterrows():
        g_ = got[start]
        for c in ("record_count", "unique_customers", "min_batch", "max_batch"):
            assert g_[c] == row[c], (start, c, g_, row)
        for c in ("total_transaction_value", "avg_transaction_value"):
            assert close(g_[c], row[c], 0.0051), (start, c, g_, row)


# --- seed 004: campaign views -------------------------------------------------------------

def test_campaign_views_per_minute_joined_with_campaigns(bootstrap, tmp_path):
    topic = f"views-{uuid.uuid4().hex[:8]}"
    (tmp_path / "data/log_data/input_data").mkdir(parents=True)
    sluice(tmp_path, "generate", "campaigns", "-o", "data/log_data/input_data/campaigns.csv", "--seed", 3)
    sluice(tmp_path, "produce", "views", "-b", bootstrap, "--topic", topic, "--count", 120, "--interval", "20ms",
           "--seed", 8)
    job, _ = job_copy("campaign-views", tmp_path, topic)
    run_job(tmp_path, job, bootstrap)

    inp = pd.DataFrame([json.loads(r.value) for r in confluent_read_all(bootstrap, topic)])
    assert len(inp) == 120
    start = pd.to_datetime(inp["start_timestamp"], utc=True)
    end = pd.to_datetime(inp["end_timestamp"], utc=True)
    inp = inp.assign(minute=start.dt.floor("min"), duration=(end - start).dt.total_seconds())
    g = inp.groupby(["minute", "campaign_id"])
    want = pd.DataFrame({"avg_duration": g["duration"].mean().map(lambda x: half_up(x, 3)),
                         "total_count": g.size()}).reset_index()
    campaigns = pd.read_csv(tmp_path / "data/log_data/input_data/campaigns.csv")
    campaigns = campaigns.iloc[:, :3]
    campaigns.columns = ["campaign_id", "network_id", "campaign_name"]
    want = want.merge(campaigns, on="campaign_id", how="left")

    out = tmp_path / "data/output_data"
    files = [p for p in out.rglob("*.parquet") if "_sluice_staging" not in p.parts]
    assert files, f"no Parquet files under {out}"
    got = ds.dataset(out, format="parquet", partitioning="hive",
                     exclude_invalid_files=True).to_table().to_pandas()
    got = got[~got["campaign_id"].isna()]
    assert len(got) == len(want), (got, want)
    got_keys = {(int(r.campaign_id), utc(r.minute_timestamp)): r
                for r in got.itertuples()}
    for r in want.itertuples():
        g_ = got_keys[(int(r.campaign_id), r.minute)]
        assert g_.total_count == r.total_count and close(g_.avg_duration, r.avg_duration, 0.00051), (g_, r)
        assert g_.campaign_name == r.campaign_name and int(g_.network_id) == int(r.network_id), (g_, r)
