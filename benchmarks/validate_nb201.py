"""The README's NAS-Bench-201 validation tables: `python benchmarks/validate_nb201.py RESULTS`.

RESULTS comes from (CIFAR-10 batch of 64, the authors' zero-cost model, 1000 sampled benchmark archs,
then the CIFAR-10 archs of NASLib's subset; both resumable, 1 thread):

    gradsign-fast sweep /tmp/nb201_c10_b64.jsonl --from-table $D/nb201/naswot_arch_score_acc_nb201_cifar10.csv \
        --archs 1000 --data $D/cifar/cifar10_train_first1000_convnetjs.npz --threads 1
    gradsign-fast sweep /tmp/nb201_c10_b64.jsonl --from-table $D/nb201/naslib_zc_nb201_subset_with_nats_test.csv \
        --where dataset=cifar10 --data $D/cifar/cifar10_train_first1000_convnetjs.npz --threads 1

Same as `gradsign-fast validate RESULTS` (gradsign_fast/nas/validation_tables.py builds the tables).
"""

from __future__ import annotations

import sys

from gradsign_fast.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["validate", *sys.argv[1:]]))
