"""Run by tests/test_distributed.py under torchrun: scores zoo models data-parallel, rank 0 writes JSON."""

import json
import sys

import torch
import torch.distributed as dist

import gradsign_fast.distributed as gd
from gradsign_fast.cli.distributed import exit_now
from model_zoo import CASES

if __name__ == "__main__":
    out = sys.argv[1]
    dist.init_process_group("gloo")
    results = {}
    for name in ["conv_bn_net", "tied_parameters", "sequence_linear"]:
        case = CASES[name](torch.float64)
        gd.check_same_model(case.model)
        x, y = gd.shard(case.inputs), gd.shard(case.targets)
        results[name] = {
            "sum": gd.score(case.model, x, y, case.loss_fn),
            "mean": gd.score(case.model, x, y, case.loss_fn, reduction="mean"),
            "local_n": int(x.shape[0]),
        }
    try:
        torch.manual_seed(dist.get_rank())
        gd.check_same_model(torch.nn.Linear(3, 3))
        results["mismatch_detected"] = False
    except ValueError:
        results["mismatch_detected"] = True
    if dist.get_rank() == 0:
        with open(out, "w") as f:
            json.dump(results, f)
    dist.barrier()  # every rank done before any tears the group down (gloo aborts a peer otherwise)
    dist.destroy_process_group()
    exit_now(0)  # no interpreter teardown (see gradsign_fast.cli.distributed.exit_now)
