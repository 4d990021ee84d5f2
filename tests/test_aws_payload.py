"""--payload through the real CLI: subscription payloads in every shape AWS sends them."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

from tests.aws_server import record
from tests.conftest import query, run_flowscope


def flat(text: str) -> str:
    return " ".join(text.split())


def message(first: int, n: int, stream: str = "eni-1-all", ids: int | None = None) -> dict:
    base = first if ids is None else ids
    return {
        "owner": "123456789012",
        "logGroup": "/vpc/flows",
        "logStream": stream,
        "subscriptionFilters": ["to-kinesis"],
        "messageType": "DATA_MESSAGE",
        "logEvents": [
            {
                "id": str(10**20 + base + i),
                "timestamp": 1718000000000,
                "message": record(first + i, 1718000000),
            }
            for i in range(n)
        ],
    }


CONTROL = {
    "owner": "CloudwatchLogs",
    "logGroup": "",
    "logStream": "",
    "subscriptionFilters": [],
    "messageType": "CONTROL_MESSAGE",
    "logEvents": [
        {
            "id": "",
            "timestamp": 1432826855000,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
        }
    ],
}


def b64gz(doc: dict) -> str:
    return base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()


def test_every_payload_shape_with_control_messages_and_repeats(
    tmp_path: Path, store_path: Path
) -> None:
    lines = tmp_path / "kinesis-lines.txt"
    lines.write_text("\n".join([b64gz(message(0, 5)), b64gz(CONTROL), b64gz(message(5, 5))]) + "\n")
    lam = tmp_path / "lambda-event.json"
    lam.write_text(json.dumps({"awslogs": {"data": b64gz(message(100, 3))}}, indent=2))
    kinesis = tmp_path / "get-records.json"
    kinesis.write_text(
        json.dumps(
            {
                "Records": [
                    {"Data": b64gz(message(200, 4)), "SequenceNumber": "1"},
                    {"Data": b64gz(message(200, 4)), "SequenceNumber": "2"},  # redelivered
                ],
                "NextShardIterator": "x",
            }
        )
    )
    firehose = tmp_path / "firehose.gz"
    firehose.write_bytes(
        gzip.compress(json.dumps(message(300, 2)).encode())
        + gzip.compress((json.dumps(CONTROL) + json.dumps(message(302, 2))).encode())
    )
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(message(400, 1)) + "\n" + json.dumps(message(401, 1)) + "\n")

    files = [str(p) for p in (lines, lam, kinesis, firehose, plain)]
    r = run_flowscope("-s", str(store_path), "ingest", "--payload", *files)
    assert r.returncode == 0, r.stderr
    err = flat(r.stderr)
    assert "23 records loaded from 5 input(s); 0 set aside" in err
    assert f"note {lines}: skipped 1 CONTROL_MESSAGE payload(s)" in err
    assert f"note {firehose}: skipped 1 CONTROL_MESSAGE payload(s)" in err
    assert f"note {kinesis}: dropped 4 log event(s) repeated with the same id" in err
    assert query(store_path, "SELECT count(*), count(DISTINCT bytes) FROM flows") == [(23, 23)]
    assert query(store_path, "SELECT DISTINCT layout FROM loads") == [("default format (v2)",)]

    again = run_flowscope("-s", str(store_path), "ingest", "--payload", *files)
    assert "0 records loaded from 0 input(s); 0 set aside; 5 already loaded" in flat(again.stderr)

    piped = (b64gz(message(500, 3)) + "\n").encode()
    stdin = run_flowscope("-s", str(store_path), "ingest", "--payload", "-", input=piped)
    assert stdin.returncode == 0, stdin.stderr
    assert "3 records loaded from 1 input(s)" in flat(stdin.stderr)
    assert query(store_path, "SELECT count(*) FROM flows") == [(26,)]


def test_a_bad_payload_stores_nothing_of_its_input(tmp_path: Path, store_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(b64gz(message(0, 5)) + "\nthis is not base64!\n")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": "world"}))
    good = tmp_path / "good.txt"
    good.write_text(b64gz(message(50, 2)) + "\n")
    r = run_flowscope("-s", str(store_path), "ingest", "--payload", str(bad), str(other), str(good))
    assert r.returncode == 4, r.stderr
    err = flat(r.stderr)
    assert f"failed {bad}: payload 2: not base64, gzip or JSON" in err
    assert "nothing from this input was stored" in err
    assert (
        f"failed {other}: payload 1: not base64, gzip or JSON (a JSON object that is not a "
        "subscription payload (no logEvents, awslogs or Records))"
    ) in err
    assert "Traceback" not in r.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(2,)]
    mixed = run_flowscope("-s", str(store_path), "ingest", "--payload", "s3://bucket/x")
    assert mixed.returncode == 2
    assert "--payload reads files or '-', not cloudwatch:// or s3:// URLs" in mixed.stderr


def test_payload_bombs_are_refused_in_bounded_memory(tmp_path: Path, store_path: Path) -> None:
    """A gzip bomb as the payload file, or inside a base64 record, is refused with a reason;
    the file is inflated a MiB at a time, so peak memory stays that of a normal run."""
    import subprocess
    import sys
    import zlib

    from tests.test_hostile_input import LAUNCHER

    def bomb(size: int) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        piece = b" " * (1 << 20)  # whitespace: the JSON reader would wait for more
        return b"".join(c.compress(piece) for _ in range(size >> 20)) + c.flush()

    outer = tmp_path / "outer.gz"
    outer.write_bytes(bomb(600 << 20))  # 600 MiB of spaces in ~600 KiB
    good = tmp_path / "good.json"
    good.write_text(json.dumps(message(1, 2)))
    inner = tmp_path / "inner.json"
    blob = base64.b64encode(bomb(100 << 20)).decode()
    inner.write_text(json.dumps({"awslogs": {"data": blob}}))
    cmd = [sys.executable, "-m", "flowscope", "-s", str(store_path), "ingest", "--payload"]
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cmd, str(outer), str(inner), str(good)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kib, code = (int(x) for x in proc.stdout.split()[-2:])
    assert code == 4, proc.stderr
    assert "inflates past 64 MiB" in flat(proc.stderr)
    assert query(store_path, "SELECT count(*) FROM flows") == [(2,)]
    assert peak_kib < 500 * 1024, f"peak RSS {peak_kib // 1024} MiB"
