"""The results file survives SIGKILL mid-write, repairs a torn last line, and takes several writers."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from gradsign_fast.nas.results import ResultsFile

WRITER = textwrap.dedent(
    """
    import sys
    from gradsign_fast.nas.results import ResultsFile
    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    results = ResultsFile(path, fsync=False)
    for i in range(count):
        results.append({"key": f"{tag}-{i}", "payload": "x" * (i % 300), "i": i})
    """
)


def _spawn(path, tag, count):
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(count)], env=env)


def test_append_and_read_back(tmp_path):
    results = ResultsFile(tmp_path / "r.jsonl")
    assert results.records() == [] and results.done_keys() == set()
    results.append({"key": "a", "score": 1.5})
    results.append({"key": "b", "score": float("nan")})
    assert [r["key"] for r in results.records()] == ["a", "b"]
    assert results.done_keys() == {"a", "b"}


def test_torn_last_line_is_ignored_then_repaired_on_the_next_append(tmp_path):
    path = tmp_path / "r.jsonl"
    results = ResultsFile(path)
    results.append({"key": "a"})
    with open(path, "ab") as f:
        f.write(b'{"key": "b", "sco')
    assert results.done_keys() == {"a"}
    results.append({"key": "c"})
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["a", "c"]
    with open(path, "ab") as f:
        f.write(b'{"key"')
    assert results.repair() == 6 and results.repair() == 0


def test_several_writers_at_once_lose_nothing(tmp_path):
    path = tmp_path / "r.jsonl"
    writers = [_spawn(path, f"w{k}", 150) for k in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in writers)
    keys = [r["key"] for r in ResultsFile(path).records()]
    assert len(keys) == 600 and len(set(keys)) == 600
    assert all(line.startswith("{") and line.endswith("}") for line in path.read_text().splitlines())


def test_sigkill_at_any_point_keeps_every_finished_record(tmp_path):
    path = tmp_path / "r.jsonl"
    for delay in (0.05, 0.2, 0.4):
        size = path.stat().st_size if path.exists() else 0
        proc = _spawn(path, f"k{delay}", 10**6)
        deadline = time.time() + 60
        while (not path.exists() or path.stat().st_size <= size + 100) and time.time() < deadline:
            time.sleep(0.01)  # wait until this writer is appending
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open(path, "ab") as f:  # what a kill inside write() would leave
            f.write(b'{"key":"torn","payl')
    results = ResultsFile(path)
    keys = [r["key"] for r in results.records()]
    assert len(keys) == len(set(keys)) > 0
    results.append({"key": "after"})
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines) and json.loads(lines[-1])["key"] == "after"


def test_a_gzipped_snapshot_reads_like_the_file_and_refuses_writes(tmp_path):
    """results/*.jsonl.gz: load_scores and correlate read the committed snapshots directly."""
    import gzip

    import pytest

    from gradsign_fast.nas import load_scores

    live = ResultsFile(tmp_path / "r.jsonl")
    for key, score in (("a", 1.0), ("b", 2.0)):
        live.append({"key": key, "arch": key, "score": score, "config": {"seed": 0}})
    snap = tmp_path / "r.jsonl.gz"
    snap.write_bytes(gzip.compress(live.path.read_bytes() + b'{"key": "c", "arch": "c", "sco'))  # torn tail
    snapshot = ResultsFile(snap)
    assert snapshot.snapshot and not live.snapshot
    assert snapshot.records() == live.records() and snapshot.done_keys() == {"a", "b"}
    assert load_scores(snap) == {"a": 1.0, "b": 2.0}
    for write in (lambda: snapshot.append({"key": "d"}), snapshot.repair, lambda: snapshot.contains("a")):
        with pytest.raises(ValueError, match="read-only .*snapshot"):
            write()
