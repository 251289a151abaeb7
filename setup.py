"""Builds gradsign_fast's optional compiled kernels; the install never fails because of them.

    gradsign_fast._C        CPU ops (csrc/ops.cpp, csrc/cpu/*.cpp): scalar + AVX2 + AVX-512, picked at run time
    gradsign_fast._C_cuda   CUDA ops (csrc/cuda/*), when torch is a CUDA build and nvcc is found

Install (against the torch already installed; isolation would fetch another torch):
    pip install --no-build-isolation -e .     # editable: the .so files land in gradsign_fast/
    pip install --no-build-isolation .

Environment:
    GRADSIGN_SKIP_CPP_BUILD=1    skip the CPU extension (pure-Python install; the 'torch' backend runs)
    GRADSIGN_SKIP_CUDA_BUILD=1   skip the CUDA extension
    GRADSIGN_FORCE_CUDA_BUILD=1  build the CUDA extension or fail the install, saying why
    TORCH_CUDA_ARCH_LIST         CUDA archs; without a visible GPU it defaults to "9.0" here
    CUDA_HOME                    toolkit root; else found from nvcc (wrapper scripts resolved)

What was built, and why anything was not, goes to gradsign_fast/_build_info.json (read by
gradsign_fast.info()).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
INFO_NAME = os.path.join("gradsign_fast", "_build_info.json")
DEFAULT_ARCH_LIST = "9.0"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _find_cuda_home() -> str | None:
    """CUDA_HOME / CUDA_PATH, else the toolkit root of the nvcc on PATH (wrapper scripts resolved)."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return os.environ[var]
    nvcc = shutil.which("nvcc")
    candidates = []
    if nvcc:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
        try:  # `nvcc -dryrun` prints `#$ TOP=<toolkit>/bin/..` even when nvcc is a wrapper script
            out = subprocess.run([nvcc, "-dryrun", "-c", "x.cu"], capture_output=True, text=True, timeout=60)
            for line in (out.stdout + out.stderr).splitlines():
                if "TOP=" in line:
                    candidates.append(os.path.normpath(line.split("TOP=", 1)[1].strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates.append("/usr/local/cuda")
    for root in candidates:
        if os.path.exists(os.path.join(root, "include", "cuda_runtime.h")) and os.path.exists(
            os.path.join(root, "bin", "nvcc")
        ):
            return root
    return None


def _cuda_plan(torch) -> tuple[bool, str]:
    """(build the CUDA extension?, reason if not)."""
    if _flag("GRADSIGN_SKIP_CUDA_BUILD"):
        return False, "GRADSIGN_SKIP_CUDA_BUILD is set"
    if not torch.version.cuda:
        return False, f"torch {torch.__version__} is a CPU-only build"
    home = _find_cuda_home()
    if home is None:
        return False, "no CUDA toolkit found (nvcc not on PATH; set CUDA_HOME)"
    os.environ["CUDA_HOME"] = home  # read by torch.utils.cpp_extension when it is imported
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_ARCH_LIST
        print(f"gradsign_fast: no GPU visible, building CUDA kernels for TORCH_CUDA_ARCH_LIST={DEFAULT_ARCH_LIST}")
    return True, ""


def _extensions():
    """(ext_modules, cmdclass, build record) for this environment; never raises unless forced."""
    record = {"cpp": {"built": False, "reason": ""}, "cuda": {"built": False, "reason": ""}}
    try:
        import torch
    except ImportError as exc:
        reason = f"torch is not importable at build time ({exc}); use pip install --no-build-isolation"
        record["cpp"]["reason"] = record["cuda"]["reason"] = reason
        return [], {}, record
    record["torch"] = torch.__version__
    want_cuda, why_not = _cuda_plan(torch)
    if _flag("GRADSIGN_FORCE_CUDA_BUILD") and not want_cuda:
        raise RuntimeError(f"GRADSIGN_FORCE_CUDA_BUILD is set but the CUDA extension cannot be built: {why_not}")
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    openmp = torch.backends.openmp.is_available()
    cxx = ["-O3", "-g0", "-std=c++20", "-fno-fast-math"] + (["-fopenmp"] if openmp else [])
    exts = []
    if _flag("GRADSIGN_SKIP_CPP_BUILD"):
        record["cpp"]["reason"] = "GRADSIGN_SKIP_CPP_BUILD is set"
    else:
        sources = ["csrc/ops.cpp"] + sorted(glob.glob("csrc/cpu/*.cpp"))
        exts.append(CppExtension("gradsign_fast._C", sources, extra_compile_args={"cxx": cxx},
                                 extra_link_args=["-fopenmp"] if openmp else [], optional=True))
        record["cpp"]["openmp"] = openmp
    if want_cuda:
        try:
            nvcc = ["-O3", "-std=c++20", "--expt-relaxed-constexpr"]
            exts.append(CUDAExtension("gradsign_fast._C_cuda", sorted(glob.glob("csrc/cuda/*.c*")),
                                      extra_compile_args={"cxx": ["-O3", "-g0", "-std=c++20"], "nvcc": nvcc},
                                      optional=not _flag("GRADSIGN_FORCE_CUDA_BUILD")))
            record["cuda"]["arch_list"] = os.environ.get("TORCH_CUDA_ARCH_LIST", "(detected from the visible GPUs)")
            record["cuda"]["cuda_home"] = os.environ["CUDA_HOME"]
        except Exception as exc:  # e.g. a toolkit layout torch.utils.cpp_extension cannot read
            if _flag("GRADSIGN_FORCE_CUDA_BUILD"):
                raise
            want_cuda, why_not = False, f"cannot configure the CUDA extension: {type(exc).__name__}: {exc}"
    if not want_cuda:
        record["cuda"]["reason"] = why_not
        print(f"gradsign_fast: skipping the CUDA extension: {why_not}")

    def write_record(cmd) -> None:
        """Writes the record into the built package (and the source tree for editable / --inplace builds)."""
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        targets = [os.path.join(cmd.build_lib, INFO_NAME)]
        if getattr(cmd, "inplace", False) or getattr(cmd, "editable_mode", False):
            targets.append(os.path.join(ROOT, INFO_NAME))
        for path in targets:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)

    class RecordingBuildPy(build_py):
        """Writes the build record even when no extension is built (build_ext then does not run)."""

        def run(self):
            super().run()
            write_record(self)

    class GuardedBuildExt(BuildExtension):
        """Builds each extension on its own; an optional one that fails is reported, not fatal."""

        def _give_up(self, ext, exc: BaseException) -> None:
            key = "cuda" if ext.name.endswith("_C_cuda") else "cpp"
            last = (str(exc).strip().splitlines() or [""])[-1]
            reason = f"build failed: {type(exc).__name__}: {last} (see the compiler output above)"
            record[key].update(built=False, reason=reason)
            self._failed.append(ext)
            print(f"gradsign_fast: WARNING: {ext.name} {reason}; continuing without it", file=sys.stderr)

        def build_extension(self, ext):
            try:
                super().build_extension(ext)
            except BaseException as exc:  # compiler errors arrive as several types (incl. SystemExit)
                if not ext.optional or isinstance(exc, KeyboardInterrupt):
                    raise
                self._give_up(ext, exc)
                return
            record["cuda" if ext.name.endswith("_C_cuda") else "cpp"].update(built=True, reason="")

        def build_extensions(self):
            self._failed = []
            try:
                super().build_extensions()
            except Exception as exc:  # a check before any compile, e.g. nvcc vs torch CUDA major version
                optional_cuda = [e for e in self.extensions if e.name.endswith("_C_cuda") and e.optional]
                if not optional_cuda or self._failed:
                    raise
                for ext in optional_cuda:
                    self._give_up(ext, exc)
                self.extensions = [e for e in self.extensions if e not in optional_cuda]
                super().build_extensions()
            self.extensions = [e for e in self.extensions if e not in self._failed]

        def run(self):
            super().run()
            write_record(self)

    build_ext = GuardedBuildExt.with_options(use_ninja=shutil.which("ninja") is not None)
    return exts, {"build_ext": build_ext, "build_py": RecordingBuildPy}, record


ext_modules, cmdclass, _ = _extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
