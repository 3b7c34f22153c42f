"""Variant matrices described in small TOML files; presets ship with the package.

A matrix has a ``description``, ``go_versions`` (``""`` is the default toolchain) and
``[[build]]`` blocks that expand to targets x platforms x flavours x Go versions. See
``presets/default.toml`` for the format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadbench.builder.toolchains import BuildError, native_platform
from loadbench.builder.variant import C_TARGETS, GO_TARGETS, FlavourError, Variant, variant

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True, slots=True)
class Matrix:
    name: str
    description: str
    go_versions: tuple[str, ...]
    variants: tuple[Variant, ...]
    claims: bool = False


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_matrix(
    preset: str, *, quick: bool = False, with_cc: bool = True, default_go_version: str | None = None
) -> Matrix:
    """Load a preset by name or a TOML file by path and expand it into variants.

    ``default_go_version`` ("go1.27.3") lets a listed version equal to the default toolchain's
    use that toolchain instead of fetching it again.
    """
    path = Path(preset)
    if not path.suffix:
        path = PRESETS_DIR / f"{preset}.toml"
        if not path.is_file():
            raise BuildError(
                f"unknown preset {preset!r}; presets: {', '.join(preset_names())}, "
                "or pass a .toml file"
            )
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BuildError(f"{path}: no such matrix file") from None
    except tomllib.TOMLDecodeError as e:
        raise BuildError(f"{path}: not valid TOML ({e})") from None
    return expand(
        data, name=path.stem, quick=quick, with_cc=with_cc, default_go_version=default_go_version
    )


def expand(
    data: dict[str, Any],
    *,
    name: str = "matrix",
    quick: bool = False,
    with_cc: bool = True,
    default_go_version: str | None = None,
) -> Matrix:
    versions = [str(v).removeprefix("go") for v in data.get("go_versions", [""])]
    if not versions:
        versions = [""]
    default = (default_go_version or "").removeprefix("go")
    multi = len(versions) > 1
    out: dict[str, Variant] = {}
    for i, block in enumerate(data.get("build", [])):
        where = f"{name}: build block {i + 1}"
        if quick and block.get("quick", True) is False:
            continue
        unknown = set(block) - {"targets", "platforms", "flavours", "go_versions", "quick"}
        if unknown:
            raise BuildError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        targets = block.get("targets") or []
        for t in targets:
            if t not in GO_TARGETS + C_TARGETS:
                raise BuildError(
                    f"{where}: unknown target {t!r}; known: {', '.join(GO_TARGETS + C_TARGETS)}"
                )
        gv = block.get("go_versions", [""])
        block_versions = versions if gv == "all" else [str(v).removeprefix("go") for v in gv]
        for target in targets:
            if not with_cc and (target in C_TARGETS or target == "cgo"):
                continue
            for plat in block.get("platforms", ["native"]):
                if plat == "native":
                    goos, goarch = "", ""
                else:
                    goos, sep, goarch = plat.partition("/")
                    if not sep:
                        raise BuildError(f"{where}: platform {plat!r} is not GOOS/GOARCH")
                    if (goos, goarch) == native_platform():
                        goos, goarch = "", ""
                for flav in block.get("flavours", [""]):
                    if not with_cc and any(
                        t in flav.split("+") for t in ("cgo", "external", "static", "musl")
                    ):
                        continue
                    for ver in block_versions if target not in C_TARGETS else [""]:
                        # A listed version equal to the default toolchain's is built by it; the
                        # name still carries the version when the matrix compares several.
                        use = "" if ver == default else ver
                        try:
                            v = variant(
                                target, goos=goos, goarch=goarch, flavour=flav, go_version=use
                            )
                        except FlavourError as e:
                            raise BuildError(f"{where}: {e}") from None
                        if multi and ver and not use and target not in C_TARGETS:
                            v = _rename_with_version(v, ver)
                        out.setdefault(v.name, v)
    return Matrix(
        name=name,
        description=str(data.get("description", "")),
        go_versions=tuple(versions),
        variants=tuple(out.values()),
        claims=bool(data.get("claims", False)),
    )


def _rename_with_version(v: Variant, ver: str) -> Variant:
    from dataclasses import replace

    head, _, rest = v.name.partition("-")
    name = f"{head}-go{ver}" + (f"-{rest}" if rest else "")
    return replace(v, name=name, tags=(*v.tags, "goversion"))
