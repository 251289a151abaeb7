"""NDS design spaces (Radosavovic et al. 2019) as `--space nds` / `nds-cifar`: records -> networks.

An NDS record of the DARTS, ENAS, PNAS, NASNet and Amoeba spaces (../shared/data/nds/
nds_imagenet_subsets.csv: `genotype_json`, `width`, `depth`) is one arch string, canonical JSON:

    {"width":32,"depth":10,"genotype":{"normal":[["skip_connect",0],...],"normal_concat":[4,5,6],
     "reduce":[...],"reduce_concat":[4,5,6]}}

keys in that order, no spaces (json.dumps with separators (",", ":")), so one network has one string:
format_arch(parse_arch(s)) == s, and anything else is refused saying why. A table row gives it with
nds_arch_from_row (tables.py uses it for `sweep --from-table` and `correlate`; arch_from_table
maps a row index to it). Two spaces (nas.spaces.nds_space): 'nds' builds NDS's NetworkImageNet
(the records' own networks: 224x224 inputs natively; any H, W >= 33), 'nds-cifar' NetworkCIFAR (32x32), both with
C = width, `depth` cells, no auxiliary head (aux is False in every record), and a `num_classes` head.
With num_classes=1000 NetworkImageNet has exactly the record's `params` (NDS's pycls builder,
../shared/thirdparty/naswot-pycls-nds/pycls/models/nas, gives the same counts).

No sampling, mutation or enumeration: the NDS spaces are defined by their sampled records, so sweep
them from the table.
"""

from __future__ import annotations

import json
from typing import Any

from .darts_genotype import Genotype
from .darts_net import DartsNetwork, check_genotype
from .darts_ops import OPS

GENOTYPE_KEYS = ("normal", "normal_concat", "reduce", "reduce_concat")
FORMAT_HELP = ('an NDS arch is canonical JSON {"width":W,"depth":D,"genotype":{"normal":[[op,input],...],'
               '"normal_concat":[...],"reduce":[...],"reduce_concat":[...]}} (keys in this order, no spaces); '
               "make one from a table row with nds_arch_from_row")


def format_arch(genotype: Genotype, width: int, depth: int) -> str:
    """(genotype, width, depth) -> the canonical arch string (checked)."""
    geno = {"normal": [[op, i] for op, i in genotype.normal], "normal_concat": list(genotype.normal_concat),
            "reduce": [[op, i] for op, i in genotype.reduce], "reduce_concat": list(genotype.reduce_concat)}
    text = json.dumps({"width": width, "depth": depth, "genotype": geno}, separators=(",", ":"))
    parse_arch(text)
    return text


def parse_arch(arch: str) -> tuple[Genotype, int, int]:
    """The canonical arch string -> (genotype, width, depth); ValueError saying what is wrong."""
    if not isinstance(arch, str):
        raise TypeError(f"an NDS arch is a str, got {type(arch).__name__}")
    try:
        obj = json.loads(arch)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not an NDS arch string ({exc}): {arch[:120]!r}; {FORMAT_HELP}") from None
    if not isinstance(obj, dict) or list(obj) != ["width", "depth", "genotype"]:
        raise ValueError(f"not an NDS arch string: {arch[:120]!r}; {FORMAT_HELP}")
    width, depth, geno = obj["width"], obj["depth"], obj["genotype"]
    for name, value in (("width", width), ("depth", depth)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise ValueError(f"NDS arch {arch[:120]!r}: {name} must be an int >= 2, got {value!r}")
    if width % 2:
        raise ValueError(f"NDS arch {arch[:120]!r}: width must be even (the ImageNet stem halves it), got {width}")
    genotype = _genotype(arch, geno)
    check_genotype(genotype)
    canonical = json.dumps(obj, separators=(",", ":"))
    if canonical != arch:
        raise ValueError(f"NDS arch not in canonical form; write it as {canonical[:160]!r}... ({FORMAT_HELP})")
    return genotype, width, depth


def _genotype(arch: str, geno: Any) -> Genotype:
    if not isinstance(geno, dict) or list(geno) != list(GENOTYPE_KEYS):
        raise ValueError(f"NDS arch {arch[:120]!r}: genotype must have the keys {list(GENOTYPE_KEYS)} in order")
    cells = {}
    for key in ("normal", "reduce"):
        edges = geno[key]
        if not isinstance(edges, list) or not all(isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                                                  and isinstance(e[1], int) for e in edges):
            raise ValueError(f"NDS arch {arch[:120]!r}: genotype.{key} must be a list of [op name, input node]")
        unknown = sorted({op for op, _ in edges if op not in OPS})
        if unknown:
            raise ValueError(f"NDS arch {arch[:120]!r}: unknown op(s) {unknown}; known: {sorted(OPS)}")
        concat = geno[key + "_concat"]
        if not isinstance(concat, list) or not all(isinstance(k, int) for k in concat):
            raise ValueError(f"NDS arch {arch[:120]!r}: genotype.{key}_concat must be a list of node numbers")
        cells[key] = (tuple((op, i) for op, i in edges), tuple(concat))
    return Genotype(cells["normal"][0], cells["normal"][1], cells["reduce"][0], cells["reduce"][1])


def nds_arch_from_row(genotype_json: str, width: str | int, depth: str | int) -> str:
    """A table row's cells (genotype_json, width, depth) -> the canonical arch string."""
    try:
        geno = json.loads(genotype_json)
        w, d = int(width), int(depth)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"an NDS row needs genotype_json (JSON), width and depth (ints): {exc}") from None
    text = json.dumps({"width": w, "depth": d, "genotype": geno}, separators=(",", ":"))
    parse_arch(text)
    return text


def build_nds(arch: str, *, variant: str = "imagenet", num_classes: int = 1000) -> DartsNetwork:
    """The NDS network of an arch string: variant 'imagenet' (NetworkImageNet) or 'cifar'; train mode."""
    genotype, width, depth = parse_arch(arch)
    return DartsNetwork(genotype, C=width, layers=depth, num_classes=num_classes, stem=variant).train()

