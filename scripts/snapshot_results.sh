#!/usr/bin/env bash
# Refresh the repository's copies of the long sweeps before a commit (run from anywhere):
#   results/<name>.jsonl.gz     each live results file of $GRADSIGN_SWEEPS (default /work/sweeps), gzip'ed whole
#   gradsign_fast/nas/precomputed_tables/nb201_cifar10.csv.gz   the shipped table (scripts/export_precomputed.py)
# Usage: bash scripts/snapshot_results.sh
# Each copy is taken under a shared flock of the live file, the lock every sweep writer takes
# exclusively, so it never holds a half-written line. The sweeps keep running meanwhile.
set -euo pipefail
SWEEPS=${GRADSIGN_SWEEPS:-/work/sweeps}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# live file (under $SWEEPS, .jsonl) -> snapshot (under results/, .jsonl.gz): results/README.md says what each is
MAP="nb201_c10:nb201_cifar10 nb201_c10_synthetic:nb201_c10_synthetic nb201_c100_synthetic:nb201_c100_synthetic
     nb201_c100_real20:nb201_c100_real20 nb201_in16_synthetic:nb201_in16_synthetic
     nb201_in16_c10standin:nb201_in16_c10standin nb101:nb101_cifar10 nb101_naslib500:nb101_naslib500
     darts:darts_nb301 nds_in64:nds_imagenet64"
CODE=${GRADSIGN_SWEEP_CODE:-"host:pid vm:2975 (from 2026-12-01T01:13Z, engine not recorded): the working tree before commit 4097717 (not recorded exactly); vm:18826 and vm:21697: the working tree of /work/main at the time (python -m puts the current directory ahead of PYTHONPATH, so the worktree meant to freeze commit 276f8be was not the code that ran); vm:22208 onward (2026-12-01T08:00Z): commit 8d8fc05, run from its worktree /work/sweep_code2"}
mkdir -p "$ROOT/results"
for pair in $MAP; do
  src="$SWEEPS/${pair%%:*}.jsonl" dst="$ROOT/results/${pair##*:}.jsonl.gz"
  [ -f "$src" ] || continue
  flock -s "$src" gzip -9 -n -c "$src" > "$dst.tmp"
  mv "$dst.tmp" "$dst"
  echo "$src -> results/$(basename "$dst")"
done
# run from the repository root: the sweep's --data path (../shared/...) is resolved there for its sha256
cd "$ROOT"
python scripts/export_precomputed.py results/nb201_cifar10.jsonl.gz --code "$CODE"
ls -l results/ gradsign_fast/nas/precomputed_tables/nb201_cifar10.csv.gz
