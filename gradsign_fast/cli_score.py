"""`gradsign-fast score`: the GradSign score of one model (an NB201 arch string or a factory)."""

from __future__ import annotations

import argparse
import json
import time

from .cli_common import PROG, check_device, format_score, torch_threads

HELP = "score one model: a NAS-Bench-201 arch string, or a factory module:function (+ an arch)"


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    from .cli_sweep import add_config_arguments

    parser.add_argument("model", help="a NAS-Bench-201 arch string ('|nor_conv_3x3~0|+|...|') or a factory "
                                      "module:function returning an nn.Module")
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
    for action in parser._actions:  # --space is implied by MODEL here
        if action.dest == "space":
            action.help = argparse.SUPPRESS


def run_score(args: argparse.Namespace) -> int:
    from .cli_sweep import config_from_args
    from .nas.sweep import describe_engines
    from .nas.nb201_arch import parse_arch
    from .nas.spaces import arch_from_table

    check_device(args.device)
    if ":" in args.model:
        args.space, arch = args.model, args.arch
    else:
        if args.arch is not None:
            raise ValueError(f"an arch argument goes with a factory module:function; {args.model!r} is not one")
        arch, index = arch_from_table(args.model, args.table)
        parse_arch(arch)  # a clear error for a malformed string
        args.space = "nb201"
    config = config_from_args(args)
    with torch_threads(args.threads):
        record = _score(arch, config)
    if args.table is not None and ":" not in args.model:
        record["index"] = index
    if args.json:
        print(json.dumps(record, sort_keys=True))
    else:
        print(f"# {PROG} score: space {config.space}, batch {record['batch']}; engine {config.engine}, "
              f"backend {config.backend}, device {config.device}, inits {config.n_inits}")
        index = f"\tindex {record['index']}" if "index" in record else ""
        print(f"{format_score(record['score'])}\t{record['seconds']:.2f} s\t{record['arch']}{index}")
        if args.verbose:
            print(describe_engines(record))
    return 0


def _score(arch: str | None, config) -> dict:
    from .nas.sweep import load_config_batch, score_arch

    _, _, num_classes, batch_text = load_config_batch(config)
    if arch is not None:
        return {**score_arch(arch, config), "batch": batch_text}
    import torch

    from .api import score_draws
    from .nas.spaces import call_factory, load_factory

    factory, _ = load_factory(config.space)
    x, y, _, _ = load_config_batch(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = call_factory(factory, None, num_classes)
    model = model.to(device=config.device, dtype=getattr(torch, config.dtype)).train()
    t0 = time.perf_counter()
    draws = score_draws(model, x, y, n_inits=config.n_inits, seed=config.seed, engine=config.engine,
                        backend=config.backend)
    value = float(sum(d.score(config.reduction) for d in draws) / len(draws))
    notes = list(dict.fromkeys(note for d in draws for note in d.notes))
    return {"arch": None, "score": value, "seconds": time.perf_counter() - t0, "batch": batch_text,
            "config": config.to_dict(), "engine": ",".join(dict.fromkeys(d.engine for d in draws)),
            **({"notes": notes} if notes else {})}
