"""Build one Cloud Functions deploy directory per function under ``build/``.

For every ``functions/<name>/main.py`` this writes ``<out>/<name>/`` with:

- ``main.py``, copied from ``functions/<name>/main.py``;
- ``shared/``, a copy of the repository's ``shared`` package without ``__pycache__``,
  compiled files and ``shared/localstack/`` (local-only code);
- ``requirements.txt``, a copy of ``requirements.lock``, the pinned and hashed production
  lock that the Cloud Functions Python buildpack installs with pip;
- the data files the function reads at run time (``_FUNCTION_DATA``), at the same relative
  path: the tools hub's ``samples/business.json``.

Terraform zips each directory with ``archive_file`` (terraform/functions.tf), so run this
before ``terraform plan``. Each function's directory is rebuilt from scratch; nothing else
under ``<out>`` is touched.

Usage::

    python scripts/build_bundles.py                   # every function, into build/
    python scripts/build_bundles.py --out /tmp/build  # somewhere else
    python scripts/build_bundles.py webhook intake    # only these
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["REPO_ROOT", "build_bundle", "build_bundles", "discover_functions", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent

# Files a function reads at run time, relative to the repository (and to the bundle).
_FUNCTION_DATA = {"tools_hub": ("samples/business.json",)}

# Directory and file-name patterns left out of the copied shared package.
_SHARED_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "localstack")


def discover_functions(repo_root: Path = REPO_ROOT) -> list[str]:
    """Return the names of the directories under functions/ that hold a main.py, sorted."""
    functions_dir = repo_root / "functions"
    if not functions_dir.is_dir():
        return []
    return sorted(path.parent.name for path in functions_dir.glob("*/main.py"))


def _ignore_for_shared(shared_dir: Path) -> Callable[[str, list[str]], set[str]]:
    """Return a copytree ignore callback that drops only the top-level localstack package."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(_SHARED_IGNORE(directory, names))
        if Path(directory) != shared_dir:
            # A nested directory that happens to be called "localstack" stays.
            ignored.discard("localstack")
        return ignored

    return ignore


def build_bundle(name: str, out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Write the deploy directory of one function and return its path."""
    source = repo_root / "functions" / name / "main.py"
    shared = repo_root / "shared"
    lock = repo_root / "requirements.lock"
    for required in (source, shared / "__init__.py", lock):
        if not required.is_file():
            message = f"{required} is missing; cannot build the {name} bundle"
            raise FileNotFoundError(message)

    target = out_dir / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)

    shutil.copyfile(source, target / "main.py")
    shutil.copytree(shared, target / "shared", ignore=_ignore_for_shared(shared))
    shutil.copyfile(lock, target / "requirements.txt")
    for relative in _FUNCTION_DATA.get(name, ()):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo_root / relative, destination)
    return target


def build_bundles(names: Sequence[str], out_dir: Path, repo_root: Path = REPO_ROOT) -> list[Path]:
    """Build every named function into out_dir and return the directories written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [build_bundle(name, out_dir, repo_root) for name in names]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build one Cloud Functions deploy directory per function."
    )
    parser.add_argument(
        "functions",
        nargs="*",
        metavar="FUNCTION",
        help="functions to build (directory names under functions/); default: all of them",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "build",
        help="directory that receives one sub-directory per function (default: build/)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the requested bundles; return the process exit status."""
    args = _parse_args(argv)
    available = discover_functions()
    names: list[str] = list(args.functions) or available
    unknown = sorted(set(names) - set(available))
    if unknown:
        sys.stderr.write(f"no functions/<name>/main.py for: {', '.join(unknown)}\n")
        return 2
    if not names:
        sys.stderr.write("no functions/<name>/main.py found; nothing to build\n")
        return 1
    out_dir: Path = args.out.resolve()
    for path in build_bundles(names, out_dir):
        sys.stdout.write(f"built {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
