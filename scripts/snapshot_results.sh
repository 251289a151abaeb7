#!/usr/bin/env bash
# Refresh the repository's copies of the long NB201 CIFAR-10 sweep before a commit (run from anywhere):
#   results/nb201_cifar10.jsonl.gz                       the whole results file, gzip'ed (resume from it)
#   gradsign_fast/nas/precomputed_tables/nb201_cifar10.csv.gz   the shipped table (scripts/export_precomputed.py)
# Usage: bash scripts/snapshot_results.sh [RESULTS.jsonl]   (default /work/sweeps/nb201_c10.jsonl)
# The copy is taken under a shared flock of the results file, the lock every sweep writer takes
# exclusively, so it never holds a half-written line. The sweep keeps running meanwhile.
set -euo pipefail
SRC=${1:-/work/sweeps/nb201_c10.jsonl}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CODE=${GRADSIGN_SWEEP_CODE:-"records of host:pid vm:2975 (from 2026-12-01T01:13Z, engine not recorded): the working tree before commit 4097717 (not recorded exactly); vm:18826 onward: commit 276f8be (git worktree /work/sweep_code)"}
[ -f "$SRC" ] || { echo "no results file at $SRC" >&2; exit 1; }
mkdir -p "$ROOT/results"
flock -s "$SRC" gzip -9 -n -c "$SRC" > "$ROOT/results/nb201_cifar10.jsonl.gz.tmp"
mv "$ROOT/results/nb201_cifar10.jsonl.gz.tmp" "$ROOT/results/nb201_cifar10.jsonl.gz"
# run from the repository root: the sweep's --data path (../shared/...) is resolved there for its sha256
cd "$ROOT"
python scripts/export_precomputed.py results/nb201_cifar10.jsonl.gz --code "$CODE"
ls -l results/nb201_cifar10.jsonl.gz gradsign_fast/nas/precomputed_tables/nb201_cifar10.csv.gz
