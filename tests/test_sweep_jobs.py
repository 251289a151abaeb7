"""`sweep --jobs N`: worker processes split the archs with claims; every arch is scored and recorded
once, a dead or stale claim is taken over, readers ignore claims, a SIGKILLed worker loses nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from gradsign_fast.cli import main
from gradsign_fast.nas import ResultsFile, SweepConfig, load_scores, pending, sample_arch_strings, score_arch
from gradsign_fast.nas import claims
from gradsign_fast.nas.jobs import claimed_sweep, local_sweep
from gradsign_fast.nas.sweep import CachedScorer, DoneTail, done_keys, is_done

ROOT = Path(__file__).resolve().parents[1]
SMALL = SweepConfig(channels=2, cells=1, batch_size=8)
SMALL_ARGS = ["--channels", "2", "--cells", "1", "--batch-size", "8"]
FACTORY = '''
import os, time
from torch import nn

def build(arch, num_classes=10):
    time.sleep(float(os.environ.get("SLOW_FACTORY", "0")))
    width = int(arch.removeprefix("w"))
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, num_classes))
'''

pytestmark = pytest.mark.usefixtures("one_thread")


def _lines(path: Path) -> list[dict]:
    """Every line of the file, each of which must be a whole JSON object."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_two_workers_score_every_arch_exactly_once(tmp_path):
    path = tmp_path / "r.jsonl"
    archs = sample_arch_strings(8, seed=3)
    summary = local_sweep(archs, path, SMALL, jobs=2, progress=False)
    assert (summary["done"], summary["failed"], summary["left"], summary["lost_workers"]) == (8, 0, 0, 0)
    records = _lines(path)
    done = Counter(r["key"] for r in records if is_done(r))
    assert done == Counter({SMALL.key(a): 1 for a in archs})  # every arch once, no duplicates
    claimed = Counter(r["claim"] for r in records if "claim" in r)
    assert claimed == done  # each claimed once: nobody scored an arch another had claimed
    assert {r["pid"] for r in records} <= {r["pid"] for r in records if "claim" in r}
    assert load_scores(path)[archs[0]] == score_arch(archs[0], SMALL)["score"]  # the in-process number
    again = local_sweep(archs, path, SMALL, jobs=2, progress=False)  # nothing left: no worker starts
    assert (again["skipped"], again["done"], again["seconds"]) == (8, 0, 0.0)


def test_claim_is_checked_and_written_under_one_lock(tmp_path):
    results = ResultsFile(tmp_path / "r.jsonl")
    key = SMALL.key("a")
    held = claims.is_held
    state, last = results.claim(key, claims.claim_record(key, "a"), done=is_done, key_of=claims.last_key, held=held)
    assert (state, last) == ("claimed", None)
    state, last = results.claim(key, claims.claim_record(key, "a"), done=is_done, key_of=claims.last_key, held=held)
    assert state == "held" and last["pid"] == os.getpid()  # ours, alive: held
    results.append({"key": key, "arch": "a", "score": 1.0})
    assert results.claim(key, {}, done=is_done, key_of=claims.last_key, held=held) == ("done", None)
    assert len(results.records()) == 2  # the refused claims wrote nothing


def test_when_a_claim_holds(tmp_path):
    me = claims.owner()
    now = time.time()
    assert claims.is_held({**me, "claim": "k", "time": now})
    assert not claims.is_held({**me, "claim": "k", "time": now - 7200})  # stale (default 3600 s)
    assert not claims.is_held({**me, "claim": "k", "time": now}, stale_after=-1)
    assert not claims.is_held({**me, "pid": _dead_pid(), "claim": "k", "time": now})  # its process died
    if me["start"] is not None:  # /proc: a reused pid (another start time) is not the owner
        assert not claims.is_held({**me, "start": "1", "claim": "k", "time": now})
    other = {"host": socket.gethostname() + "-elsewhere", "pid": 1, "claim": "k", "time": now}
    assert claims.is_held(other) and not claims.is_held({**other, "time": now - 7200})
    assert not claims.is_held({**me, "claim": "k"})  # no time: nothing proves it is held
    assert claims.last_key({"claim": "k"}) == "k" and claims.last_key({"key": "k", "error": "E"}) == "k"
    assert claims.last_key({"key": "k", "score": 1.0}) is None


def test_dead_stale_and_live_claims(tmp_path):
    """A dead owner's and a stale claim are taken over; a live local owner is waited for (then taken
    over once it dies); a fresh claim on another host is left, and counted."""
    path = tmp_path / "r.jsonl"
    a, b, c, d = archs = sample_arch_strings(4, seed=11)
    results = ResultsFile(path)
    now, here = time.time(), socket.gethostname()
    holder = subprocess.Popen(["sleep", "60"])
    threading.Timer(1.5, lambda: (holder.kill(), holder.wait())).start()
    for arch, owner in [(a, {"host": here, "pid": _dead_pid(), "time": now}),
                        (b, {"host": here, "pid": holder.pid, "start": claims.process_start(holder.pid),
                             "time": now}),
                        (c, {"host": "elsewhere", "pid": 1, "time": now - 7200}),
                        (d, {"host": "elsewhere", "pid": 1, "time": now})]:
        results.append({"claim": SMALL.key(arch), "arch": arch, **owner})
    start = time.monotonic()
    counts = claimed_sweep(archs, path, SMALL, poll=0.1)
    assert counts == {"done": 3, "failed": 0, "skipped": 0, "held": 1}
    assert time.monotonic() - start >= 1.0  # it waited for b's live owner
    assert pending(archs, results, SMALL) == [d]


def test_readers_ignore_claims(tmp_path):
    path = tmp_path / "r.jsonl"
    a, b = sample_arch_strings(2, seed=2)
    results = ResultsFile(path)
    tail = DoneTail(path)
    results.append(claims.claim_record(SMALL.key(a), a))
    results.append({**score_arch(a, SMALL)})
    results.append(claims.claim_record(SMALL.key(b), b))  # claimed, never finished
    assert set(load_scores(path)) == {a}
    assert done_keys(results) == {SMALL.key(a)} and tail.poll() == {SMALL.key(a)}
    assert pending([a, b], results, SMALL) == [b]
    assert len(CachedScorer(path, SMALL, compute=False)) == 1


def test_sigkill_of_a_worker_loses_nothing(tmp_path):
    """`sweep --jobs 2` as a user runs it; one worker is SIGKILLed while it scores: the other takes
    over its arch, every arch is recorded exactly once, every line is whole, and the exit code is 0."""
    (tmp_path / "tiny_space.py").write_text(FACTORY)
    path = tmp_path / "r.jsonl"
    archs = [f"w{i}" for i in range(2, 14)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]), "SLOW_FACTORY": "0.4",
           "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "gradsign_fast", "sweep", str(path), "--space", "tiny_space:build",
            "--batch-size", "4", "--jobs", "2", "--quiet", *[x for a in archs for x in ("--arch", a)]]
    parent = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    try:
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and parent.poll() is None:
            records = ResultsFile(path).records()
            finished = {r["key"] for r in records if is_done(r)}
            busy = [r for r in records if "claim" in r and r["claim"] not in finished]
            if len(finished) >= 2 and busy:
                victim = busy[-1]  # a worker holding an arch it has not finished
            else:
                time.sleep(0.05)
        assert victim is not None, "no worker was caught mid-arch"
        os.kill(victim["pid"], signal.SIGKILL)
        out, err = parent.communicate(timeout=180)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 0, err
    assert "1 of 2 workers exited abnormally" in err
    records = _lines(path)
    keys = [r["key"] for r in records if is_done(r)]
    assert sorted(keys) == sorted(SweepConfig(space="tiny_space:build", batch_size=4).key(a) for a in archs)
    assert [r["claim"] for r in records if "claim" in r].count(victim["claim"]) == 2  # taken over once
    assert not any(is_done(r) and r["pid"] == victim["pid"] and r["key"] == victim["claim"] for r in records)


@pytest.mark.parametrize("argv, message", [
    (["--jobs", "2", "--ray"], "choose one"),
    (["--claim-stale", "10"], "--claim-stale goes with --jobs"),
    (["--jobs", "0"], "a number of worker processes"),
])
def test_jobs_usage_errors_exit_2(argv, message, tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "r.jsonl"), "--archs", "2", *argv, *SMALL_ARGS]) == 2
    assert message in capsys.readouterr().err
