"""GradSign where NAS users already work: the zero-cost proxy registries of zero-cost-nas and NASLib.

    zero_cost_nas.register()   "gradsign_fast" in foresight.pruners.measures (the GradSign authors'
                               fork of SamsungLabs' zero-cost-nas, or SamsungLabs' own)
    naslib.register()          "gradsign_fast" in naslib.predictors.utils.pruners.measures, so that
                               NASLib's ZeroCost(method_type="gradsign_fast") finds it
    pruner_registry            the measure both registries call, and the idempotent registration

Neither tool is imported until register() is called; neither is a dependency of this package.
"""

from __future__ import annotations

from .pruner_registry import MEASURE_NAME, OPTION_NAMES, gradsign_measure, register_in

__all__ = ["MEASURE_NAME", "OPTION_NAMES", "gradsign_measure", "register_in"]
