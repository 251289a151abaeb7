"""python -m gradsign_fast: the same command line as `gradsign-fast` (see gradsign_fast/cli/__init__.py)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
