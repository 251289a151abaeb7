"""GradSign in NASLib: a measure of its zero-cost registry, for ZeroCost(method_type="gradsign_fast").

    from gradsign_fast.integrations import naslib as gradsign_naslib
    gradsign_naslib.register()                   # once; again is a no-op
    from naslib.predictors.zerocost import ZeroCost
    ZeroCost(method_type="gradsign_fast").query(graph, dataloader=loader)   -> float

NASLib's ZeroCost.query calls naslib.predictors.utils.pruners.predictive.find_measures(graph, loader,
("random", 1, graph.num_classes), device, graph.get_loss_fn(), ["gradsign_fast"]), which looks the
name up in naslib.predictors.utils.pruners.measures (the registry zero-cost-nas started) and reports
sum(torch.sum(v) for v in value).item(); ZeroCost maps a NaN or infinite score to -1e8.
What it scores is graph.get_prunable_copy(bn=True) where the graph has one, else a deepcopy in the
graph's own train/eval mode; like zero-cost-nas it leaves the graph in train mode afterwards.

register(name, **options): options are score()'s reduction, params, engine, backend, chunk_size, dropout.
"""

from __future__ import annotations

from typing import Any

from .pruner_registry import MEASURE_NAME, import_registry, register_in

REGISTRY_MODULE = "naslib.predictors.utils.pruners.measures"
HOW_TO_IMPORT = "install NASLib (github.com/automl/NASLib) before registering the gradsign_fast measure"


def register(name: str = MEASURE_NAME, **options: Any) -> str:
    """Registers GradSign as `name` in NASLib's zero-cost measure registry (idempotent); returns `name`."""
    return register_in(import_registry(REGISTRY_MODULE, HOW_TO_IMPORT), name, options)
