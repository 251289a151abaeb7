"""Issue "Trust first": each arch recorded once by concurrent sweeps (#8), a complete last line without
a newline kept (#9), a read-only file resumable when nothing is left (#10), a full disk named (#10)."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from gradsign_fast.nas import SweepConfig
from gradsign_fast.nas.results import ResultsFile
from gradsign_fast.nas.sweep import is_done, sweep

ROOT = Path(__file__).resolve().parents[1]
FACTORY = '''
import os, time
from torch import nn

def build(arch, num_classes=10):
    time.sleep(float(os.environ.get("SLOW_FACTORY", "0")))
    width = int(arch.removeprefix("w"))
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, num_classes))
'''
CONFIG = SweepConfig(space="tiny_space_safety:build", batch_size=4)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def space(tmp_path, monkeypatch):
    """The user space 'tiny_space_safety:build' (arch 'w<width>') importable here and in child processes."""
    (tmp_path / "tiny_space_safety.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def _finished_keys(path) -> list[str]:
    return [r["key"] for r in ResultsFile(path).records() if is_done(r)]


# --- #9: a complete last line without a trailing newline is a record --------------------------------

UNTERMINATED = "\n".join(_line({"key": k, "score": 1.0}) for k in "ab")  # as "\n".join(...) rewrites it


def test_a_complete_unterminated_last_line_is_read(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(UNTERMINATED)
    results = ResultsFile(path)
    assert [r["key"] for r in results.records()] == ["a", "b"]
    assert results.done_keys() == {"a", "b"} and results.contains("b")
    assert not results.append_if_absent({"key": "b", "score": 2.0}, match=is_done)
    assert [r["key"] for r in results.records()] == ["a", "b"]


def test_append_and_repair_complete_the_last_line_instead_of_cutting_it(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(UNTERMINATED)
    ResultsFile(path).append({"key": "c", "score": 3.0})
    assert path.read_text() == UNTERMINATED + "\n" + _line({"key": "c", "score": 3.0}) + "\n"
    path.write_text(UNTERMINATED)
    results = ResultsFile(path)
    assert results.repair() == 0 and path.read_text() == UNTERMINATED + "\n"
    with path.open("ab") as fh:
        fh.write(b'{"key":"c","sco')  # genuinely torn: still cut
    assert results.repair() == 15 and path.read_text() == UNTERMINATED + "\n"


# --- #10: a full disk, or a file that cannot be written, names the results file ------------------------

@pytest.mark.skipif(not os.access("/dev/full", os.W_OK), reason="no writable /dev/full")
@pytest.mark.parametrize("method", ["append", "append_if_absent"])
def test_a_full_device_names_the_results_file(method):
    results = ResultsFile("/dev/full")
    with pytest.raises(OSError, match=r"cannot append to /dev/full: No space left on device") as info:
        getattr(results, method)({"key": "a", "score": 1.0})
    assert info.value.errno == errno.ENOSPC


@pytest.mark.parametrize("method", ["append", "append_if_absent"])
@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_failed_write_names_the_file_and_leaves_no_torn_line(tmp_path, monkeypatch, method, failing):
    path = tmp_path / "r.jsonl"
    results = ResultsFile(path)
    results.append({"key": "a", "score": 1.0})
    before = path.read_bytes()
    real_write, real_fsync = os.write, os.fsync

    def ours(fd):
        return os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve())

    def write_half_then_fail(fd, data):  # a disk that fills up in the middle of the record
        if not ours(fd):
            return real_write(fd, data)
        if len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def fsync_fails(fd):
        if ours(fd):
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    if failing == "write":
        monkeypatch.setattr(os, "write", write_half_then_fail)
    else:
        monkeypatch.setattr(os, "fsync", fsync_fails)
    with pytest.raises(OSError, match=re.escape(f"cannot append to {path}")) as info:
        getattr(results, method)({"key": "b", "score": 2.0})
    assert info.value.errno == (errno.ENOSPC if failing == "write" else errno.EIO)
    monkeypatch.undo()
    assert path.read_bytes() == before, "a failed append leaves the file as it was"


@pytest.fixture()
def read_only(monkeypatch):
    """make(path): chmod 0o444 and, since root ignores permission bits, os.open with write flags on
    that path raises PermissionError (as it does for any other user)."""
    real_open = os.open

    def make(path: Path) -> None:
        path.chmod(0o444)

        def open_read_only(file, flags, *args, **kwargs):
            if os.fspath(file) == str(path) and flags & (os.O_WRONLY | os.O_RDWR):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
            return real_open(file, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", open_read_only)

    return make


def test_a_read_only_results_file_resumes_when_nothing_is_left(tmp_path, space, read_only):
    path = tmp_path / "r.jsonl"
    assert sweep(["w2", "w3"], path, CONFIG, progress=False)["done"] == 2
    before = path.read_bytes()
    read_only(path)
    again = sweep(["w2", "w3"], path, CONFIG, progress=False)
    assert (again["done"], again["skipped"], again["failed"]) == (0, 2, 0)
    assert path.read_bytes() == before
    with pytest.raises(PermissionError, match=re.escape(f"cannot append to {path}")):  # something left: named
        sweep(["w2", "w4"], path, CONFIG, progress=False)
    with path.open("rb") as fh:
        assert fh.read() == before


def test_a_torn_tail_of_a_read_only_file_is_read_around_and_its_repair_named(tmp_path, read_only):
    path = tmp_path / "r.jsonl"
    path.write_text(_line({"key": "a", "score": 1.0}) + "\n" + '{"key":"b","sc')
    read_only(path)
    results = ResultsFile(path)
    assert results.done_keys() == {"a"}
    with pytest.raises(PermissionError, match=re.escape(f"cannot repair {path}")):
        results.repair()


@pytest.mark.skipif(not os.access("/dev/full", os.W_OK), reason="no writable /dev/full")
def test_a_sweep_stops_on_a_record_it_cannot_write(space):
    with pytest.raises(OSError, match="cannot append to /dev/full") as info:
        sweep(["w2", "w3"], "/dev/full", CONFIG, progress=False)
    assert info.value.errno == errno.ENOSPC


# --- #8: concurrent sweeps of one file record each arch once ------------------------------------------

def test_a_record_finished_elsewhere_while_scoring_is_not_appended_again(tmp_path, space, monkeypatch):
    sweep_module = sys.modules["gradsign_fast.nas.sweep"]
    path = tmp_path / "r.jsonl"
    real = sweep_module.score_arch

    def score_while_another_sweep_scores_the_same(arch, config):
        record = real(arch, config)
        if arch == "w3":
            ResultsFile(path).append({**record, "pid": -1})  # the other sweep appends first
        return record

    monkeypatch.setattr(sweep_module, "score_arch", score_while_another_sweep_scores_the_same)
    summary = sweep(["w2", "w3", "w4"], path, CONFIG, progress=False)
    assert (summary["done"], summary["skipped"]) == (2, 1)
    keys = _finished_keys(path)
    assert len(keys) == len(set(keys)) == 3


CHILD = """
import json, os, sys, time
sys.path.insert(0, {space!r})
import torch
from gradsign_fast.nas import SweepConfig, sweep
torch.set_num_threads(1)
open({ready!r}, "w").close()
while not os.path.exists({go!r}):
    time.sleep(0.002)
summary = sweep({archs!r}, {path!r}, SweepConfig(space="tiny_space_safety:build", batch_size=4), progress=False)
print(json.dumps(summary))
"""


def test_two_identical_sweeps_started_at_once_record_each_arch_once(tmp_path, space):
    path, go = tmp_path / "r.jsonl", tmp_path / "go"
    archs = [f"w{i}" for i in range(2, 10)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLOW_FACTORY": "0.15", "OMP_NUM_THREADS": "1"}
    children = []
    for k in range(2):
        script = textwrap.dedent(CHILD).format(space=str(space), ready=str(tmp_path / f"ready{k}"), go=str(go),
                                                archs=archs, path=str(path))
        children.append(subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{k}").exists() for k in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both start sweeping the same list at the same moment
    summaries = [json.loads(child.communicate(timeout=120)[0].splitlines()[-1]) for child in children]
    assert all(child.returncode == 0 for child in children)
    keys = _finished_keys(path)
    assert sorted(keys) == sorted(CONFIG.key(arch) for arch in archs), "each arch recorded exactly once"
    assert sum(s["done"] for s in summaries) == len(archs)


def test_the_done_index_reads_only_what_was_appended_since(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    results = ResultsFile(path, fsync=False)
    for i in range(3000):
        results.append({"key": f"k{i}", "score": 1.0, "pad": "x" * 200})
    size = path.stat().st_size
    assert not results.append_if_absent({"key": "k5", "score": 2.0}, match=is_done)  # the first look reads all
    read = [0]
    for name in ("pread", "read"):
        real = getattr(os, name)

        def counting(*args, _real=real):
            data = _real(*args)
            read[0] += len(data)
            return data

        monkeypatch.setattr(os, name, counting)
    other = ResultsFile(path, fsync=False)  # another writer: its records are seen too
    for i in range(200):
        assert results.append_if_absent({"key": f"n{i}", "score": 1.0}, match=is_done)
        other.append({"key": f"o{i}", "score": 1.0})
        assert not results.append_if_absent({"key": f"o{i}", "score": 2.0}, match=is_done)
    assert read[0] < size / 3, f"{read[0]} bytes read for 400 appends to a {size}-byte file"
    monkeypatch.undo()
    path.write_text(_line({"key": "k1", "score": 1.0}) + "\n")  # rewritten shorter: read again from 0
    assert results.append_if_absent({"key": "k2", "score": 1.0}, match=is_done)
    assert not results.append_if_absent({"key": "k1", "score": 1.0}, match=is_done)
    replacement = tmp_path / "new.jsonl"  # replaced by a longer file (another inode): read again too
    replacement.write_text("".join(_line({"key": f"z{i}", "score": 1.0, "pad": "y" * 300}) + "\n" for i in range(9)))
    replacement.replace(path)
    assert results.append_if_absent({"key": "k1", "score": 1.0}, match=is_done)
    assert not results.append_if_absent({"key": "z8", "score": 1.0}, match=is_done)
