"""GradSign in zero-cost-nas (the GradSign authors' fork, or SamsungLabs'): a `find_measures` measure.

    from foresight.pruners import predictive
    from gradsign_fast.integrations import zero_cost_nas
    zero_cost_nas.register()                     # once; again is a no-op
    predictive.find_measures(net, loader, ("random", 1, num_classes), device,
                             loss_fn=F.cross_entropy, measure_names=["gradsign_fast"])
    -> {"gradsign_fast": float}                  == their "grad_conflict" (float64: exactly)

What find_measures scores: net.get_prunable_copy(bn=True). On their NB101/NB201 networks
(foresight.models.nasbench1 / nasbench2) that is a rebuilt copy in train mode, in torch's default
dtype (so for float64 wrap the call in torch.set_default_dtype(torch.float64)); on any other net, a
deepcopy in the net's own mode. It also leaves the caller's net in train mode. gradsign_fast.score()
scores the model in its own mode, so on an eval-mode net the two differ; after net.train() they agree.

register(name, **options): options are score()'s reduction, params, engine, backend, chunk_size,
dropout (e.g. register("gradsign_fast_mean", reduction="mean") for the authors' np.nanmean variant).
"""

from __future__ import annotations

from typing import Any

from .pruner_registry import MEASURE_NAME, import_registry, register_in

REGISTRY_MODULE = "foresight.pruners.measures"
HOW_TO_IMPORT = ("put the zero-cost-nas folder (the one holding foresight/) on sys.path, or pip install "
                 "zero-cost-nas, before registering the gradsign_fast measure")


def register(name: str = MEASURE_NAME, **options: Any) -> str:
    """Registers GradSign as `name` in foresight.pruners.measures (idempotent); returns `name`."""
    return register_in(import_registry(REGISTRY_MODULE, HOW_TO_IMPORT), name, options)
