"""The third-party oracles beside the clone (../shared/thirdparty), for tests to import; never copied here.

    zero_cost_nas_dir()          the authors' zero-cost-nas fork (holds foresight/); pytest.skip if absent
    use_zero_cost_nas()          ... and put it on sys.path
    authors_function(rel, name)  a function of one of the authors' *scripts* (gradsign.py parses argv
                                 and runs at import): its def, and the defs it names, compiled alone
                                 from the script's source with numpy/torch in scope
    use_naslib_excerpt()         naslib-excerpt on sys.path, the NASLib modules it lacks stubbed
    runnable_snippet(code)       a README snippet with the third-party code it imports made importable

NASLib is not installable here; the excerpt holds the ZeroCost predictor, find_measures and the
measure registry. Importing them needs NASLIB_STUBS, the NASLib modules the excerpt lacks: the other
measures that measures/__init__.py's load_all() imports (each registers only itself), model_stats
(find_measures uses it only for 'flops'/'params') and naslib.predictors.predictor (ZeroCost's base
class). The stubs are empty modules, a get_model_stats that raises, and a bare Predictor class.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from typing import Callable

import pytest

THIRDPARTY = Path(__file__).resolve().parents[1].parent / "shared" / "thirdparty"
AUTHORS = THIRDPARTY / "gradsign-authors"
ZERO_COST_NAS = AUTHORS / "zero-cost-nas-code"
NASLIB_EXCERPT = THIRDPARTY / "naslib-excerpt"
_MEASURES = "naslib.predictors.utils.pruners.measures"
NASLIB_STUBS = (
    *(f"{_MEASURES}.{m}" for m in ("grad_norm", "snip", "grasp", "fisher", "jacov", "plain", "epe_nas", "zen",
                                    "l2_norm", "nwot")),
    f"{_MEASURES}.model_stats",
    "naslib.predictors.predictor",
)


def _need(path: Path, what: str) -> Path:
    if not path.is_dir():
        pytest.skip(f"{what} not found at {path} (../shared/thirdparty beside the clone)")
    return path


def zero_cost_nas_dir() -> Path:
    return _need(ZERO_COST_NAS / "foresight", "the GradSign authors' zero-cost-nas code").parent


def use_zero_cost_nas() -> Path:
    path = str(zero_cost_nas_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    return Path(path)


def authors_function(relative: str, name: str, *helpers: str) -> Callable:
    """Function `name` (and `helpers`) of the script AUTHORS/relative, without running the script."""
    path = _need(AUTHORS, "the GradSign authors' code") / relative
    tree = ast.parse(path.read_text(), filename=str(path))
    wanted = {name, *helpers}
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in wanted]
    missing = wanted - {d.name for d in defs}
    assert not missing, f"{missing} not defined in {path}"
    import numpy as np
    import torch

    scope = {"np": np, "torch": torch, "nn": torch.nn, "F": torch.nn.functional}
    exec(compile(ast.Module(body=defs, type_ignores=[]), str(path), "exec"), scope)
    return scope[name]


def use_naslib_excerpt() -> Path:
    """sys.path gets the excerpt; each module of NASLIB_STUBS the excerpt lacks gets a stub."""
    root = _need(NASLIB_EXCERPT / "naslib", "the NASLib excerpt").parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    for name in NASLIB_STUBS:
        if name in sys.modules or (root / (name.replace(".", "/") + ".py")).is_file():
            continue
        stub = types.ModuleType(name, "stub: a NASLib module the excerpt lacks (tests/thirdparty_code.py)")
        if name.endswith(".model_stats"):
            def get_model_stats(*args, **kwargs):
                raise NotImplementedError("stub: NASLib's model_stats is not in the excerpt")
            stub.get_model_stats = get_model_stats
        if name.endswith(".predictor"):
            stub.Predictor = type("Predictor", (), {"__doc__": "stub of NASLib's Predictor base class"})
        sys.modules[name] = stub
    return root


def runnable_snippet(code: str) -> str:
    """`code` behind a prelude that makes the third-party packages it imports importable (skips when absent)."""
    prelude = []
    if _imports(code, "foresight"):
        prelude.append(f"import sys; sys.path.insert(0, {str(zero_cost_nas_dir())!r})")
    if _imports(code, "naslib"):
        _need(NASLIB_EXCERPT / "naslib", "the NASLib excerpt")
        prelude.append(f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                       "import thirdparty_code; thirdparty_code.use_naslib_excerpt()")
    return "\n".join([*prelude, code])


def _imports(code: str, package: str) -> bool:
    return re.search(rf"^\s*(from|import)\s+{package}\b", code, re.MULTILINE) is not None
