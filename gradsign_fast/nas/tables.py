"""Arch tables: CSV files with one architecture per row (an arch-string column) and numbers beside it.

    table_archs(csv, where=[("dataset", "cifar10")])      arch strings in row order (sweep --from-table)
    arch_strings_from_table(csv)                          every row's checked NB201 string: row i = benchmark index i
    load_table(csv, "valid_test_top1", require="finite")  arch -> number of a column (correlate, search)
    table_columns(csv)                                    the header

Every reader opens the table the same way (table_rows): the file must exist, the arch column is the
first of ARCH_COLUMNS present (or the one named), every column asked for or filtered on must exist,
and `where` keeps the rows whose cells equal the given strings. Errors name the file, and for a bad
cell the data row (0-based, counting every data row), the arch, the column and the value.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, Union

from .nb201_arch import parse_arch

# Column names that hold arch strings (the tables under shared/data/nb201/ use the first three), in order.
ARCH_COLUMNS: tuple[str, ...] = ("ArchitectureString", "arch_str", "cellstr", "arch")
# A table without one but with NAS-Bench-101's `adjacency` and `ops` columns (shared/data/nb101/*.csv):
# its arch is the nb101 arch string of those two cells (nb101_arch.arch_from_row: pruned, checked).
NB101_ARCH = "adjacency|ops"
# A table with NDS's `genotype_json`, `width` and `depth` columns (shared/data/nds/*.csv): its arch is
# the canonical NDS arch string of those three cells (nds.nds_arch_from_row: checked).
NDS_ARCH = "genotype_json|width|depth"
# load_table(require=...): what each requirement accepts, and how an error says it.
REQUIREMENTS = {
    "finite": (math.isfinite, "a finite number"),
    "positive": (lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
}

# load_table(duplicates=...): an arch on several rows raises, or gets the mean of its values.
DUPLICATES = ("raise", "mean")
Where = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
Row = tuple[int, str, dict[str, str]]  # (data row number, arch, the row's cells by column)


def table_columns(csv_path: str | Path) -> list[str]:
    """The header of a CSV table."""
    with _existing(csv_path).open(newline="") as fh:
        return list(csv.DictReader(fh).fieldnames or [])


def table_rows(csv_path: str | Path, *, columns: Sequence[str] = (), where: Where = None,
               arch_column: str | None = None) -> list[Row]:
    """(row number, arch, row) of the rows matching every where (column, value), in file order.

    `columns` must exist besides the arch column (else a ValueError listing the table's columns); so
    must every `where` column. `where`: a mapping or (column, value) pairs, all of which must match.
    """
    path = _existing(csv_path)
    pairs = _pairs(where)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        arch_col = _arch_column(fields, path, arch_column)
        _check_columns(path, fields, arch_col, columns, [k for k, _ in pairs])
        return [(row_no, _row_arch(row, arch_col), row) for row_no, row in enumerate(reader)
                if all(row[k] == v for k, v in pairs)]


def _row_arch(row: dict[str, str], arch_col: str) -> str:
    if arch_col == NDS_ARCH:
        from .nds import nds_arch_from_row

        return nds_arch_from_row(row["genotype_json"], row["width"], row["depth"])
    if arch_col != NB101_ARCH:
        return row[arch_col]
    from .nb101_arch import arch_from_row

    return arch_from_row(row["adjacency"], row["ops"])


def table_archs(csv_path: str | Path, *, where: Where = None, unique: bool = True,
                check: Callable[[str], object] | None = None) -> list[str]:
    """The arch strings of the rows matching `where`, in row order (each once if `unique`).

    check(arch) validates each string; its error is re-raised naming the file and the data row.
    No matching row is an error.
    """
    archs = []
    for row_no, arch, _ in table_rows(csv_path, where=where):
        if check is not None:
            try:
                check(arch)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{csv_path}, data row {row_no}: {exc}") from None
        archs.append(arch)
    if not archs:
        raise ValueError(f"{csv_path}: no rows match {_pairs(where)}")
    return list(dict.fromkeys(archs)) if unique else archs


def arch_strings_from_table(csv_path: str | Path) -> list[str]:
    """Every row's NAS-Bench-201 arch string, in row order (row i of the NB201 tables = benchmark index i).

    Each string is checked with parse_arch. The NASLib subset table lists each architecture once per
    dataset, so its strings repeat. The DARTS (NB301) and NDS tables give their spaces' strings, checked
    by their parsers (_check_any_arch).
    """
    return table_archs(csv_path, unique=False, check=_check_any_arch)


def _check_any_arch(arch: str) -> object:
    """Parse with the parser of the space the string's form belongs to: NB301 '[[...' (nas.darts),
    NDS '{...' (nas.nds), else NAS-Bench-201."""
    if isinstance(arch, str) and arch.startswith("[["):
        from .darts_genotype import parse_compact

        return parse_compact(arch)
    if isinstance(arch, str) and arch.startswith("{"):
        from .nds import parse_arch as parse_nds

        return parse_nds(arch)
    return parse_arch(arch)


def load_table(csv_path: str | Path, column: str, *, where: Where = None, arch_column: str | None = None,
               skip_empty: bool = False, require: str | None = None, duplicates: str = "raise") -> dict[str, float]:
    """arch -> float(row[column]) for the rows matching every where[col] == value (as strings).

    An arch listed twice with the same value is kept once; with different values it raises
    (filter the rows with `where`). Non-numeric cells raise with the row number; empty cells too,
    unless skip_empty (then the arch is left out, e.g. a proxy NASLib did not compute there).
    require "finite" (no nan/inf) or "positive" (finite and > 0; e.g. a training cost): a value
    that is not raises, naming the row, the arch, the column and the value. duplicates "mean": an arch
    listed several times (e.g. NASLib's NB101 file, one row per seed) gets the mean of its values.
    """
    if require is not None and require not in REQUIREMENTS:
        raise ValueError(f"require must be one of {sorted(REQUIREMENTS)} or None, got {require!r}")
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}, got {duplicates!r}")
    out: dict[str, float] = {}
    repeats: dict[str, list[float]] = {}
    for row_no, arch, row in table_rows(csv_path, columns=[column], where=where, arch_column=arch_column):
        if skip_empty and not row[column].strip():
            continue
        value = _cell_value(row[column], require, f"{csv_path}, data row {row_no} (arch {arch}): {column}")
        if duplicates == "mean":
            repeats.setdefault(arch, []).append(value)
            continue
        if arch in out and out[arch] != value:
            raise ValueError(f"{csv_path}: arch {arch} appears more than once with different {column} "
                             f"({out[arch]} and {value}); select rows with where, e.g. dataset=cifar10")
        out[arch] = value
    out.update((arch, math.fsum(values) / len(values)) for arch, values in repeats.items())
    if not out:
        raise ValueError(f"{csv_path}: no rows match {_pairs(where)}")
    return out


def _existing(csv_path: str | Path) -> Path:
    path = Path(csv_path)
    if not path.is_file():
        raise FileNotFoundError(f"no arch table at {path} (expected a CSV with an arch-string column, "
                                "such as shared/data/nb201/*.csv)")
    return path


def _pairs(where: Where) -> list[tuple[str, str]]:
    """`where` as (column, value-as-string) pairs."""
    items = where.items() if isinstance(where, Mapping) else (where or ())
    return [(k, str(v)) for k, v in items]


def _arch_column(fields: list[str], path: Path, arch_column: str | None) -> str:
    if arch_column is not None:
        if arch_column not in fields:
            raise ValueError(f"{path} has no column {arch_column!r}; columns: {fields}")
        return arch_column
    column = next((c for c in ARCH_COLUMNS if c in fields), None)
    if column is None and {"adjacency", "ops"} <= set(fields):
        return NB101_ARCH
    if column is None and {"genotype_json", "width", "depth"} <= set(fields):
        return NDS_ARCH
    if column is None:
        raise ValueError(f"{path} has no arch-string column (looked for {ARCH_COLUMNS}); columns: {fields}")
    return column


def _check_columns(path: Path, fields: list[str], arch_col: str, columns: Sequence[str],
                   where_columns: Sequence[str]) -> None:
    missing = [c for c in where_columns if c not in fields]
    if missing:
        raise ValueError(f"{path} has no column(s) {missing} to select rows by (where); columns: {fields}")
    missing = [c for c in columns if c not in fields]
    if missing:
        numeric = [c for c in fields if c != arch_col]
        raise ValueError(f"{path} has no column(s) {missing}; choose the accuracy column among {numeric}")


def _cell_value(cell: str, require: str | None, where: str) -> float:
    """float(cell), checked against REQUIREMENTS[require]; `where` starts the error message."""
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise ValueError(f"{where}={cell!r} is not a number") from None
    if require is not None:
        accepts, wanted = REQUIREMENTS[require]
        if not accepts(value):
            raise ValueError(f"{where}={cell!r}; expected {wanted}")
    return value
