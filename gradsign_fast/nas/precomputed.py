"""GradSign scores shipped with the package: a whole space scored once, so a search needs no scoring.

    table = precomputed("nb201", "cifar10")     # a Mapping arch -> score, plus how it was computed
    table[arch], len(table), table.complete      # complete: every arch of the space is present
    table.index_of(arch), table.meta["command"]  # the benchmark index; the exact sweep command
    table.config                                 # the SweepConfig that re-scores a row
    available()                                  # [("nb201", "cifar10"), ...]
    gradsign-fast search ... --scores precomputed:nb201/cifar10

A table is a gzip'ed CSV under nas/precomputed_tables/<space>_<dataset>.csv.gz (written by
scripts/export_precomputed.py from a sweep's results file): header lines '# <field>: <JSON value>'
recording the command, the SweepConfig, versions, the data file and its sha256, the machine and
threads, "archs" (rows present) and "total" (archs in the space), then the columns index,arch,score:
index the benchmark's own (for NB201: the row of the NATS-Bench table), score the float32 GradSign
score as the sweep wrote it (exact decimal). A table written while its sweep runs is partial: only the
scored archs have rows (none is ever filled in), `complete` is False and a missing arch is a KeyError
that says so.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

TABLES = Path(__file__).with_name("precomputed_tables")
SUFFIX = ".csv.gz"
PREFIX = "precomputed:"  # --scores precomputed:SPACE/DATASET
COLUMNS = ("index", "arch", "score")
TITLE = "gradsign_fast precomputed GradSign scores, format 1"
REQUIRED = ("space", "dataset", "archs", "total", "command", "config")


class PrecomputedScores(Mapping):
    """arch -> GradSign score of a precomputed table; `meta` holds its header fields.

    rows: (index, arch, score) in index order. complete: every one of `total` archs has a row.
    """

    def __init__(self, rows: list[tuple[int, str, float]], meta: dict[str, Any], path: Path):
        self.rows, self.meta, self.path = rows, meta, path
        self.space, self.dataset = meta["space"], meta["dataset"]
        self.total = int(meta["total"])
        self._scores = {arch: score for _, arch, score in rows}
        self._index = {arch: index for index, arch, _ in rows}
        self.complete = len(rows) == self.total

    def __getitem__(self, arch: str) -> float:
        try:
            return self._scores[arch]
        except KeyError:
            state = "complete" if self.complete else f"partial: {len(self)} of {self.total} archs scored so far"
            raise KeyError(f"arch {arch!r} is not in the precomputed {self.space}/{self.dataset} table "
                           f"({state})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._scores)

    def __len__(self) -> int:
        return len(self._scores)

    def index_of(self, arch: str) -> int:
        """The benchmark index of a present arch (KeyError as for a score)."""
        self[arch]
        return self._index[arch]

    @property
    def config(self):
        """The SweepConfig the scores were computed with (its data path as the sweep named it)."""
        from .sweep_config import SweepConfig

        return SweepConfig.from_dict(self.meta["config"])

    def describe(self) -> str:
        """One line: what the table is and how complete."""
        state = "complete" if self.complete else f"PARTIAL: {len(self)} of {self.total}"
        return f"precomputed GradSign {self.space}/{self.dataset}: {len(self)} archs ({state})"

    def __repr__(self) -> str:
        return f"<PrecomputedScores {self.describe()}>"


def available() -> list[tuple[str, str]]:
    """(space, dataset) of every table shipped with the package."""
    names = sorted(p.name[: -len(SUFFIX)] for p in TABLES.glob("*" + SUFFIX)) if TABLES.is_dir() else []
    return [tuple(name.split("_", 1)) for name in names if "_" in name]


def precomputed(space: str = "nb201", dataset: str = "cifar10") -> PrecomputedScores:
    """The shipped scores of `space` on `dataset`; ValueError naming what exists for anything else."""
    shipped = available()
    if (space, dataset) not in shipped:
        listing = ", ".join(f"{s}/{d}" for s, d in shipped) or "none"
        spaces = {s for s, _ in shipped}
        if space in spaces:
            datasets = [d for s, d in shipped if s == space]
            raise ValueError(f"no precomputed GradSign scores of space {space!r} on dataset {dataset!r}; "
                             f"{space} has: {', '.join(datasets)}")
        raise ValueError(f"no precomputed GradSign scores for space {space!r}; available: {listing}")
    return load_precomputed(TABLES / f"{space}_{dataset}{SUFFIX}")


def parse_spec(text: str) -> tuple[str, str]:
    """'precomputed:SPACE/DATASET' (or 'SPACE/DATASET') -> (space, dataset)."""
    body = text[len(PREFIX):] if text.startswith(PREFIX) else text
    space, sep, dataset = body.partition("/")
    if not sep or not space or not dataset or "/" in dataset:
        raise ValueError(f"expected {PREFIX}SPACE/DATASET, e.g. {PREFIX}nb201/cifar10, got {text!r}")
    return space, dataset


def load_precomputed(path: str | Path) -> PrecomputedScores:
    """A table file (see the module docstring), checked: header fields, columns, unique indices and
    archs, finite-or-not float scores, and "archs" equal to the rows present."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no precomputed table at {path}")
    with gzip.open(path, "rt", newline="") as fh:
        text = fh.read()
    meta, body = _split_header(text, path)
    reader = csv.reader(io.StringIO(body))
    header = next(reader, None)
    if tuple(header or ()) != COLUMNS:
        raise ValueError(f"{path}: expected the columns {','.join(COLUMNS)}, got {header}")
    rows, seen_index, seen_arch = [], set(), set()
    for number, row in enumerate(reader, 1):
        try:
            index, arch, score = int(row[0]), row[1], float(row[2])
        except (IndexError, ValueError):
            raise ValueError(f"{path}: data row {number} is not index,arch,score: {row}") from None
        if index in seen_index or arch in seen_arch:
            raise ValueError(f"{path}: data row {number} repeats index {index} or arch {arch}")
        seen_index.add(index)
        seen_arch.add(arch)
        rows.append((index, arch, score))
    if len(rows) != int(meta["archs"]) or len(rows) > int(meta["total"]):
        raise ValueError(f"{path}: header says {meta['archs']} of {meta['total']} archs, the table has {len(rows)}")
    if meta.get("complete", len(rows) == int(meta["total"])) != (len(rows) == int(meta["total"])):
        raise ValueError(f"{path}: header says complete={meta['complete']} but has {len(rows)} of {meta['total']} rows")
    return PrecomputedScores(sorted(rows), meta, path)


def _split_header(text: str, path: Path) -> tuple[dict[str, Any], str]:
    """The '# field: JSON' header as a dict, and the CSV after it."""
    lines = text.split("\n")
    if not lines or lines[0] != f"# {TITLE}":
        raise ValueError(f"{path} is not a precomputed GradSign table (first line {lines[0][:60]!r})")
    meta: dict[str, Any] = {}
    n = 1
    while n < len(lines) and lines[n].startswith("# "):
        field, sep, value = lines[n][2:].partition(": ")
        try:
            meta[field] = json.loads(value) if sep else None
        except ValueError:
            raise ValueError(f"{path}: header line {n + 1} ({field}) is not '# field: JSON'") from None
        n += 1
    missing = [f for f in REQUIRED if f not in meta]
    if missing:
        raise ValueError(f"{path}: header lacks {missing}")
    return meta, "\n".join(lines[n:])


def write_precomputed(path: str | Path, rows: list[tuple[int, str, float]], meta: dict[str, Any]) -> Path:
    """Writes a table (rows sorted by index; "archs" set to their count), gzip'ed reproducibly
    (no timestamp in the gzip header). `meta` needs the REQUIRED fields but "archs"."""
    missing = [f for f in REQUIRED if f != "archs" and f not in meta]
    if missing:
        raise ValueError(f"meta lacks {missing}")
    meta = {**meta, "archs": len(rows), "complete": len(rows) == int(meta["total"])}
    out = io.StringIO()
    out.write(f"# {TITLE}\n")
    for field, value in meta.items():
        out.write(f"# {field}: {json.dumps(value, sort_keys=True)}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for index, arch, score in sorted(rows):
        writer.writerow((index, arch, repr(float(score))))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
        fh.write(out.getvalue().encode())
    return path
