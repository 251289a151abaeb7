"""A restricted unpickler for CIFAR python batches: data in, never code.

    load_cifar_pickle(path)     the object pickled in `path`, admitting only dicts, lists, tuples,
                                bytes, str, numbers and numpy arrays / scalars / dtypes

The plain `pickle.load` calls whatever global a file names (os.system, builtins.eval, ...), so a
crafted file passed as `--data` would run code. `RestrictedUnpickler.find_class` admits only the
globals numpy uses to pickle arrays and dtypes (under both the numpy 1 `numpy.core` and the numpy 2
`numpy._core` names) plus `_codecs.encode` for latin-1 (how Python 3 protocol-2 pickles carry bytes),
and refuses every other one with `UnsafePickleError` (a ValueError) naming the file and the global.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

REFUSAL_HINT = ("a CIFAR batch holds only dicts, lists, strings, ints and numpy arrays; "
                "only open data you trust")


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle named a global (a callable or class) that a CIFAR batch never holds."""


def _numpy_core_attr(submodule: str, name: str) -> Any:
    """numpy's `<core>.<submodule>.<name>`, from `numpy._core` (numpy 2) or `numpy.core` (numpy 1)."""
    for package in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{package}.{submodule}"), name)
        except (ImportError, AttributeError):
            continue
    raise AttributeError(f"this numpy {np.__version__} has no {submodule}.{name}")


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """`_codecs.encode` as protocol-2 pickles of bytes use it: str -> bytes in latin-1, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise UnsafePickleError(f"_codecs.encode is admitted only as encode(str, 'latin1'), "
                                f"got encode({type(text).__name__}, {encoding!r}, {errors!r})")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    """(module, name) -> a function returning the object to hand the unpickler (resolved on use)."""
    allowed: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _latin1_encode,
    }
    for submodule, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer")):
        for package in ("numpy.core", "numpy._core"):
            allowed[(f"{package}.{submodule}", name)] = lambda s=submodule, n=name: _numpy_core_attr(s, n)
    return allowed


ALLOWED_GLOBALS = _allowed_globals()


def _display_name(module: str, name: str) -> str:
    """'module.name', plus the Python 3 name a Python-2 one stands for (commands.call -> subprocess.call)."""
    py3 = _compat_pickle.NAME_MAPPING.get((module, name))
    if py3 is None and module in _compat_pickle.IMPORT_MAPPING:
        py3 = (_compat_pickle.IMPORT_MAPPING[module], name)
    shown = f"{module}.{name}"
    return shown if py3 is None or py3 == (module, name) else f"{shown} (Python 3: {'.'.join(py3)})"


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose find_class admits only ALLOWED_GLOBALS; `source` names the file in errors.

    Containers and scalars (dict, list, tuple, bytes, str, int, float, bool, None) need no global and
    load as usual; everything that would import a module or call a function is refused.
    """

    def __init__(self, file, *, source: str | Path, encoding: str = "bytes") -> None:
        super().__init__(file, encoding=encoding)
        self.source = str(source)

    def find_class(self, module: str, name: str) -> Any:
        """The admitted object for module.name, or UnsafePickleError naming the file and the global."""
        resolve = ALLOWED_GLOBALS.get((module, name))
        if resolve is None:
            raise UnsafePickleError(f"{self.source}: refuses to load {_display_name(module, name)}: {REFUSAL_HINT}")
        return resolve()

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids name objects outside the file; a CIFAR batch has none."""
        raise UnsafePickleError(f"{self.source}: refuses a persistent id {pid!r}: {REFUSAL_HINT}")


def load_cifar_pickle(path: str | Path) -> Any:
    """The object pickled in `path`, read with RestrictedUnpickler (Python-2 str read as bytes).

    Raises UnsafePickleError (a ValueError) for any refused global; other pickle errors propagate.
    """
    with Path(path).open("rb") as fh:
        try:
            return RestrictedUnpickler(fh, source=path).load()
        except UnsafePickleError as exc:
            if str(exc).startswith(f"{path}:"):
                raise
            raise UnsafePickleError(f"{path}: {exc}: {REFUSAL_HINT}") from None
