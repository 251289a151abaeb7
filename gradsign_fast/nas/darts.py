"""The DARTS search space (NAS-Bench-301) as a `--space`: arch string -> the DARTS CIFAR network.

    build_darts(arch, channels=32, cells=8, num_classes=10) -> DartsNetwork   (n, 3, 32, 32) -> (n, num_classes)
    nas.spaces.darts_space(channels=32, cells=8) -> Space                       build/check/sample/mutate

Arch strings: NASLib's compact tuple encoding (see darts_genotype), the `arch` column of
../shared/data/darts/naslib_zc_nb301_725.csv, so `sweep --space darts --from-table <that csv>` scores
its rows and `correlate` matches them to `val_accuracy`.

Defaults, and why: C=32 initial channels, 8 cells (reductions at cells 2 and 5), no auxiliary head,
CIFAR stem. That is the network NASLib built to score these 725 archs with its 12 zero-cost proxies
(ZeroCost.query for 'darts': build_darts_net.NetworkCIFAR with C=32, layers=8, auxiliary=False, the
genotype from convert_compact_to_genotype), so GradSign sits beside their proxies like for like. (The
NAS-Bench-301 models were trained at C=32 with 8 cells too; DARTS' final CIFAR-10 model is C=36, 20
cells.) On every row of that table its `params` column equals this network's parameter count less the
affine parameters of the BatchNorms inside the edge ops, which NASLib's counter left out.

The space is not enumerated (~10^18 archs). Sampling and mutation follow NB301's rules (two distinct
earlier inputs per node, 7 ops, no 'none').
"""

from __future__ import annotations

from .darts_genotype import parse_arch
from .darts_net import DartsNetwork

DEFAULT_CHANNELS = 32
DEFAULT_CELLS = 8


def build_darts(arch: str, *, channels: int = DEFAULT_CHANNELS, cells: int = DEFAULT_CELLS,
                num_classes: int = 10) -> DartsNetwork:
    """The DARTS CIFAR network of an NB301 arch string, freshly initialized, in train mode."""
    return DartsNetwork(parse_arch(arch), C=channels, layers=cells, num_classes=num_classes, stem="cifar").train()

