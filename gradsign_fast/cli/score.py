"""`gradsign-fast score`: the GradSign score of one model (an NB201 arch string or a factory)."""

from __future__ import annotations

import argparse
import json

from .arguments import PROG, add_config_arguments, check_device, config_from_args, format_score, load_batch, \
    torch_threads

HELP = "score one model: a NAS-Bench-201 arch string, or a factory module:function (+ an arch)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL [ARCH], --table, --json, -v and the config options (--space is implied by MODEL)."""
    parser.add_argument("model", help="a NAS-Bench-201 arch string ('|nor_conv_3x3~0|+|...|'), an arch of "
                                      "--space (e.g. nb101), or a factory module:function returning an nn.Module")
    parser.add_argument("arch", nargs="?", default=None,
                        help="the arch string passed to the factory (factory() is called without one)")
    parser.add_argument("--table", default=None, metavar="CSV",
                        help="an NB201 table numbering the archs (row i = benchmark index i): MODEL may then be "
                             "an index, and the index of an arch string is printed")
    parser.add_argument("--json", action="store_true", help="print the full record as one JSON line")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print the engine that scored the model and why others could not")
    add_config_arguments(parser)
    parser.set_defaults(space=None)
    for action in parser._actions:  # --space is implied by MODEL here, unless MODEL is another space's arch
        if action.dest == "space":
            action.help = "the space of MODEL when it is not an NB201 arch or a factory: nb101"


def run(args: argparse.Namespace) -> int:
    """Scores the model; prints one line (or the JSON record), with -v the engine notes."""
    from ..nas.scoring import describe_engines, score_arch
    from ..nas.spaces import NB201_NAMES

    check_device(args.device)
    arch, index = _resolve_model(args)
    config = config_from_args(args)
    with torch_threads(args.threads):
        _, _, _, batch_text = load_batch(config)
        record = {**score_arch(arch, config), "batch": batch_text}
    if args.table is not None and config.space.lower() in NB201_NAMES:
        record["index"] = index
    if args.json:
        print(json.dumps(record, sort_keys=True))
        return 0
    print(f"# {PROG} score: space {config.space}, batch {record['batch']}; engine {config.engine}, "
          f"backend {config.backend}, device {config.device}, inits {config.n_inits}")
    index_text = f"\tindex {record['index']}" if "index" in record else ""
    print(f"{format_score(record['score'])}\t{record['seconds']:.2f} s\t{record['arch']}{index_text}")
    if args.verbose:
        print(describe_engines(record))
    return 0


def _resolve_model(args: argparse.Namespace) -> tuple[str | None, int | None]:
    """(arch, benchmark index) of MODEL [ARCH]; sets args.space (a factory, or nb201 for an arch string)."""
    from ..nas.nb201_arch import parse_arch
    from ..nas.spaces import NB201_NAMES, arch_from_table, is_factory_spec, resolve_space

    other_space = args.space is not None and args.space.lower() not in NB201_NAMES
    if is_factory_spec(args.model) and not other_space:
        args.space = args.model
        return args.arch, None
    if other_space:
        if args.table is not None or args.arch is not None:
            raise ValueError(f"--space {args.space} takes MODEL as its arch, without --table or an ARCH argument")
        resolve_space(args.space).check(args.model)  # a clear error for a malformed arch (or space)
        return args.model, None
    if args.arch is not None:
        raise ValueError(f"an arch argument goes with a factory module:function; {args.model!r} is not one")
    arch, index = arch_from_table(args.model, args.table)
    parse_arch(arch)  # a clear error for a malformed string
    args.space = "nb201"
    return arch, index
