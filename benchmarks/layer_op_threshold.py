"""Where the fused per-layer op pays on the CPU: the MIN_CHANNELS_PER_GROUP threshold and the one-thread rule.

    python benchmarks/layer_op_threshold.py [--channels 3,8,16,24,32,48,64,128] [--sizes 32,8]
                                            [--depthwise 32,128] [--kernels 3] [--batch 64] [--repeats 5]
                                            [--threads 1] [--end-to-end cnn,nb201,resnet18,nb101]

gradsign_fast/engines/layer_op.py sends a conv weight to the 'cpp' backend's fused op
(conv_weight_signs_: per sample G_s = D_s U_s^T from a channels-last copy of the input, reduced to
signs in registers) only from MIN_CHANNELS_PER_GROUP input channels per group; below it the tile path
(engines/conv_rule.py: the convolution's own weight-gradient kernel per chunk of samples, then one
sign pass) runs. Per layer, a k x k conv (--kernels) (padding 1, stride 1) of C -> C channels at S x S (and
depthwise convs: groups = C, one input channel per group), x: (n, C, S, S), D: (n, C, S, S) small integers:
both paths run on the same x and D, their counts are asserted equal, and the median seconds of
--repeats interleaved rounds are printed with tile / fused (> 1: the fused op is faster) and the path
the shipped rule picks (the channel threshold; at one thread also layer_op.tile_wins_at_one_thread).
Only the reduction is timed (no forward or backward). `--end-to-end MODELS` instead times whole
`score()` calls of benchmarks/peer_models.py's models (batch --batch) with the one-thread rule off
and on (layer_op.TILE_RULE_MAX_THREADS = 0 / --threads: "on" applies it at --threads even above the
shipped 1), rounds interleaved, scores asserted equal within 1e-6 relative. Compare on an idle
machine; the header prints the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

import peer_models  # benchmarks/: the folder of this script

import gradsign_fast
from gradsign_fast.engines import layer_op
from gradsign_fast.engines.capture import Call
from gradsign_fast.engines.conv_rule import accumulate_weight_signs
from gradsign_fast.engines.layer_op import MIN_CHANNELS_PER_GROUP, layer_op_args
from gradsign_fast.ops import ColumnSignCounts
from gradsign_fast.options import DEFAULT_MEMORY_BUDGET_MB


def layer_case(channels: int, size: int, groups: int, batch: int, kernel: int = 3) -> tuple[Call, torch.Tensor]:
    """(the Call of a C -> C k x k conv (padding k // 2) on x: (batch, C, size, size), D: (batch, C, size, size))."""
    g = torch.Generator().manual_seed(channels * 1000 + size)
    conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=groups, bias=False)
    # small integers: every product and sum is exact in float32, so both paths must give the same
    # counts bit for bit (zeros included); the timing does not depend on the values
    x = torch.randint(-2, 3, (batch, channels, size, size), generator=g).float()
    d = torch.randint(-2, 3, (batch, channels, size, size), generator=g).float()
    return Call(module=conv, x=x, z_shape=d.shape, edge=None, x_node=None, versions=()), d


def fused(call: Call, d: torch.Tensor) -> torch.Tensor:
    counts = ColumnSignCounts(call.module.weight.numel(), backend="cpp")
    args = layer_op_args([call], [d], min_channels=1)
    counts.backend.conv_weight_signs_(*args, counts.counts, counts.nan, isa=counts.isa)
    return counts.counts


def tile(call: Call, d: torch.Tensor) -> torch.Tensor:
    counts = ColumnSignCounts(call.module.weight.numel(), backend="cpp")
    accumulate_weight_signs([call], [d], counts, None, int(DEFAULT_MEMORY_BUDGET_MB * 2**20), False)
    return counts.counts


def measure(call: Call, d: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of each path, rounds interleaved; raises if the counts differ."""
    a, b = fused(call, d), tile(call, d)
    if not torch.equal(a, b):
        raise AssertionError(f"fused and tile counts differ for {call.module}")
    times: dict[str, list[float]] = {"fused": [], "tile": []}
    for _ in range(repeats):
        for name, path in (("fused", fused), ("tile", tile)):
            start = time.perf_counter()
            path(call, d)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def end_to_end(models: list[str], batch: int, repeats: int, threads: int) -> None:
    """Prints per model the median score() seconds with the one-thread rule off and on (at `threads`
    threads), and off / on."""
    print("| model | rule off s | rule on s | off / on | score |")
    print("|---|---:|---:|---:|---:|")
    for name in models:
        model, x, y = peer_models.workload(name, batch=batch)
        times: dict[bool, list[float]] = {False: [], True: []}
        shipped = layer_op.TILE_RULE_MAX_THREADS
        scores: dict[bool, float] = {}
        try:
            for round_ in range(repeats + 1):  # round 0 warms up, untimed
                for rule in (False, True):
                    layer_op.TILE_RULE_MAX_THREADS = threads if rule else 0
                    start = time.perf_counter()
                    scores[rule] = gradsign_fast.score(model, x, y)
                    if round_:
                        times[rule].append(time.perf_counter() - start)
        finally:
            layer_op.TILE_RULE_MAX_THREADS = shipped
        if abs(scores[True] - scores[False]) > 1e-6 * max(abs(scores[False]), 1.0):
            raise AssertionError(f"{name}: the rule changed the score: {scores[False]} -> {scores[True]}")
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {name} | {off:.3f} | {on:.3f} | {off / on:.2f} | {scores[True]:.6g} |", flush=True)


def header(args: argparse.Namespace) -> str:
    """The first line of either table: machine, load, torch, threads, batch, repeats."""
    return (f"# {os.uname().nodename}: load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, "
            f"{args.threads} thread(s), batch {args.batch}, median of {args.repeats}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", default="3,8,16,24,32,48,64,128", help="dense convs: C (in = out)")
    parser.add_argument("--sizes", default="32,8", help="input height = width S")
    parser.add_argument("--depthwise", default="32,128", help="depthwise convs: C (groups = C); '' for none")
    parser.add_argument("--kernels", default="3", help="kernel sizes k of the k x k convs")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--end-to-end", default="", metavar="MODELS",
                        help="time score() of these peer models with the one-thread rule off and on")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.end_to_end:
        print(f"{header(args)}; score() wall seconds")
        end_to_end(args.end_to_end.split(","), args.batch, args.repeats, args.threads)
        return
    sizes, kernels = [int(s) for s in args.sizes.split(",")], [int(k) for k in args.kernels.split(",")]
    cases = [(c, s, 1, k) for k in kernels for s in sizes for c in map(int, args.channels.split(","))]
    cases += [(c, s, c, k) for k in kernels for s in sizes for c in map(int, filter(None, args.depthwise.split(",")))]
    print(f"{header(args)}; shipped threshold: {MIN_CHANNELS_PER_GROUP} input channels per group"
          f"{', and the one-thread rule' if args.threads <= layer_op.TILE_RULE_MAX_THREADS else ''}")
    print("| conv | C in / group | S | fused s | tile s | tile / fused | shipped picks |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for channels, size, groups, kernel in cases:
        call, d = layer_case(channels, size, groups, args.batch, kernel)
        t = measure(call, d, args.repeats)
        per_group = channels // groups
        kind = "depthwise" if groups > 1 else "dense"
        pick = "fused" if layer_op_args([call], [d], cpu_threads=args.threads) is not None else "tile"
        print(f"| {kind} {channels}->{channels} {kernel}x{kernel} | {per_group} | {size} | {t['fused']:.4f} | {t['tile']:.4f} | "
              f"{t['tile'] / t['fused']:.2f} | {pick} |", flush=True)


if __name__ == "__main__":
    main()
