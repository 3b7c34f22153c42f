"""The report's plots as standalone SVG text: distributions (ECDF), stacked bars (phases, fault
regions) and latency against page faults with the fitted line.

Each function takes plain numbers and returns one ``<svg>`` element ready to inline in HTML: no
XML prolog, no metadata, no comments, every id prefixed with the caller's ``uid`` (several SVGs
share one HTML document, whose ids must be unique) and text drawn as paths so that no font has
to be fetched or installed to view it. matplotlib is imported here, inside the functions, so
importing loadbench never pays for it; figures are built with the object API (no pyplot state)
and rendered with the SVG backend.
"""

from __future__ import annotations

import io
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

# Visual defaults shared by every plot; applied with rc_context so the caller's settings survive.
_RC: Any = {
    "svg.fonttype": "path",
    "svg.hashsalt": "loadbench",  # deterministic ids: the same data gives the same SVG
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
}
# Beyond these sizes the SVG grows without showing more: ECDFs are drawn through quantiles and
# scatter plots through an even, deterministic subset of launches.
MAX_ECDF_POINTS = 1000
MAX_SCATTER_POINTS = 3000

_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->|<metadata>.*?</metadata>", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def _prepare() -> None:
    import matplotlib

    # Only when nobody chose a backend yet (an interactive session keeps its own): the report
    # never needs a display, and Agg is available everywhere.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _label(name: str) -> str:
    """Text from a record as matplotlib must see it to draw it literally."""
    # '$' would start TeX math (and can raise on bad TeX); matplotlib hides legend entries whose
    # label starts with an underscore.
    text = name.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _plain_ticks(axis: Any) -> None:
    """Log axes label 100, 1000 rather than 10^2, 10^3: readers compare microseconds."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _svg(fig: Any, uid: str, title: str) -> str:
    buf = io.StringIO()
    with warnings.catch_warnings():
        # A variant name with a character DejaVu lacks draws a box; that is no error.
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing", category=UserWarning)
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = _PROLOG.sub("", buf.getvalue()).strip()
    text = _ID.sub(lambda m: f'id="{uid}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{uid}-{m.group(2)}", text)
    aria = (
        title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )
    return text.replace("<svg ", f'<svg role="img" aria-label="{aria}" ', 1)


# A figure written as a file for a paper: (path, "svg" | "pdf" | "png"). Its text stays text
# (SVG fonttype none, PDF Type 42), unlike the inline SVG of the HTML report, whose text is
# drawn as paths so that no font has to be present where it is opened.
Output = tuple[str, str]
FIGURE_FORMATS = ("svg", "pdf", "png")


def _rc(to: Output | None) -> Any:
    if to is None:
        return _RC
    return {**_RC, "svg.fonttype": "none", "pdf.fonttype": 42, "savefig.dpi": 200}


def _emit(fig: Any, uid: str, title: str, to: Output | None) -> str:
    """The inline SVG, or with ``to`` the file written (its path returned)."""
    if to is None:
        return _svg(fig, uid, title)
    path, fmt = to
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"figure format {fmt!r}; one of {', '.join(FIGURE_FORMATS)}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing", category=UserWarning)
        fig.savefig(path, format=fmt, metadata={"Title": title} if fmt != "png" else None)
    return path


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def ecdf(series: Mapping[str, Sequence[float]], *, title: str, xlabel: str, uid: str,
         to: Output | None = None) -> str:
    """Empirical CDF of each series (e.g. launch latency in microseconds per variant), in the
    order given; the x axis turns logarithmic when the values span more than a factor of 20."""
    import matplotlib
    import numpy as np

    _prepare()
    with matplotlib.rc_context(_rc(to)):
        fig = _figure(8.0, 4.2)
        ax = fig.add_subplot()
        data = {k: np.sort(np.asarray(v, dtype=float)) for k, v in series.items() if len(v)}
        for (name, xs), color in zip(data.items(), _colors(len(data)), strict=True):
            n = xs.size
            if n > MAX_ECDF_POINTS:
                q = np.linspace(0.0, 1.0, MAX_ECDF_POINTS)
                xs, ys = np.quantile(xs, q), q
            else:
                ys = np.arange(1, n + 1) / n
            ax.step(xs, ys, where="post", color=color, label=_label(f"{name} (n={n})"), lw=1.4)
        positive = [float(v.min()) for v in data.values() if v.size and v.min() > 0]
        top = [float(v.max()) for v in data.values() if v.size]
        if positive and top and max(top) / min(positive) > 20:
            ax.set_xscale("log")
            _plain_ticks(ax.xaxis)
        ax.set_xlabel(_label(xlabel))
        ax.set_ylabel("fraction of launches at or below")
        ax.set_ylim(0, 1.02)
        ax.set_title(_label(title))
        if data:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        return _emit(fig, uid, title, to)


def stacked_bars(
    rows: Mapping[str, Mapping[str, float]],
    segments: Sequence[str],
    *,
    title: str,
    xlabel: str,
    uid: str,
    to: Output | None = None,
) -> str:
    """Horizontal bars, one per row (variant), each split into ``segments`` in that order (e.g.
    phases or fault regions); a missing segment counts as zero."""
    import matplotlib

    _prepare()
    names = list(rows)
    with matplotlib.rc_context(_rc(to)):
        fig = _figure(8.0, 1.4 + 0.42 * max(len(names), 1))
        ax = fig.add_subplot()
        left = [0.0] * len(names)
        ypos = list(range(len(names)))[::-1]  # first row on top
        for seg, color in zip(segments, _colors(len(segments)), strict=True):
            widths = [float(rows[n].get(seg, 0.0) or 0.0) for n in names]
            ax.barh(ypos, widths, left=left, color=color, label=_label(seg), height=0.65)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_yticks(ypos, [_label(n) for n in names])
        ax.set_xlabel(_label(xlabel))
        ax.set_title(_label(title))
        ax.grid(axis="y", visible=False)
        if segments:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        return _emit(fig, uid, title, to)


def forest(
    rows: Sequence[tuple[str, float, float, float, str]],
    *,
    band: float,
    title: str,
    xlabel: str,
    uid: str,
    to: Output | None = None,
) -> str:
    """One line per comparison ``(name, ratio, ci_low, ci_high, verdict)``: the ratio as a point,
    its CI as a bar, coloured by verdict; ``band`` (e.g. 0.01) is shaded around 1."""
    import matplotlib

    _prepare()
    tint = {"faster": "#1a7f37", "slower": "#cf222e"}
    with matplotlib.rc_context(_rc(to)):
        fig = _figure(8.0, 1.3 + 0.36 * max(len(rows), 1))
        ax = fig.add_subplot()
        ax.axvspan(1.0 - band, 1.0 + band, color="0.85", zorder=0)
        ax.axvline(1.0, color="0.4", lw=0.8, zorder=1)
        ypos = list(range(len(rows)))[::-1]
        for y, (_, ratio, lo, hi, verdict) in zip(ypos, rows, strict=True):
            color = tint.get(verdict.split(",")[0], "0.45")  # "slower, maybe negligible" too
            ax.plot([lo, hi], [y, y], color=color, lw=2.0, solid_capstyle="butt", zorder=2)
            ax.plot([ratio], [y], "o", color=color, ms=5, zorder=3)
        lows = [r[2] for r in rows if r[2] > 0]
        highs = [r[3] for r in rows]
        if lows and max(highs) / min(lows) > 4:
            # Ratios are multiplicative: 0.5x and 2x sit equally far from 1 on a log axis.
            from matplotlib.ticker import FixedLocator

            ax.set_xscale("log")
            ticks = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            _plain_ticks(ax.xaxis)
        ax.set_yticks(ypos, [_label(r[0]) for r in rows])
        ax.set_xlabel(_label(xlabel))
        ax.set_title(_label(title))
        ax.grid(axis="y", visible=False)
        return _emit(fig, uid, title, to)


def _thin(xs: Sequence[float], ys: Sequence[float], keep: int) -> tuple[list[float], list[float]]:
    n = len(xs)
    if n <= keep:
        return list(xs), list(ys)
    step = n / keep
    idx = [int(i * step) for i in range(keep)]
    return [xs[i] for i in idx], [ys[i] for i in idx]


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def _label_offsets(points: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Offsets (points) for the labels of ``points`` so that labels of points that (nearly)
    coincide are stacked instead of printed over each other: points closer than 3% of the
    data's span in both directions count as one place."""
    xs = [x for x, _ in points.values()]
    ys = [y for _, y in points.values()]
    span_x = (max(xs) - min(xs)) or 1.0 if xs else 1.0
    span_y = (max(ys) - min(ys)) or 1.0 if ys else 1.0
    placed: list[tuple[float, float, int]] = []
    out = {}
    for name, (x, y) in points.items():
        stack = 0
        for px, py, n in placed:
            if abs(px - x) < 0.03 * span_x and abs(py - y) < 0.03 * span_y:
                stack = max(stack, n + 1)
        placed.append((x, y, stack))
        out[name] = (5.0, 4.0 - 9.0 * stack)
    return out


def scatter_fit(
    launches: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    medians: Mapping[str, tuple[float, float]],
    fit: tuple[float, float] | None,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    fit_label: str = "",
    uid: str,
    to: Output | None = None,
) -> str:
    """Every launch as a faint dot (x, y per variant), each variant's median point labelled, and
    the line ``y = intercept + slope * x`` given as ``fit = (slope, intercept)`` when a model was
    fitted."""
    import matplotlib

    _prepare()
    names = list(dict.fromkeys([*launches, *medians]))
    total = sum(len(v[0]) for v in launches.values())
    per = max(50, MAX_SCATTER_POINTS // max(len(launches), 1)) if total > MAX_SCATTER_POINTS else 0
    with matplotlib.rc_context(_rc(to)):
        fig = _figure(8.0, 4.8)
        ax = fig.add_subplot()
        colors = dict(zip(names, _colors(len(names)), strict=True))
        for name, (xs, ys) in launches.items():
            if per:
                xs, ys = _thin(xs, ys, per)
            ax.scatter(xs, ys, s=6, alpha=0.25, color=colors[name], linewidths=0)
        offsets = _label_offsets(medians)
        for k, (name, (x, y)) in enumerate(medians.items()):
            # a marker shape each: variants at the same point stay visible as distinct shapes
            ax.scatter([x], [y], s=52, marker=_MARKERS[k % len(_MARKERS)], color=colors[name],
                       edgecolors="black", linewidths=0.7, label=_label(name), zorder=3 + k % 3)
            ax.annotate(_label(name), (x, y), xytext=offsets[name], textcoords="offset points",
                        fontsize=7.5)
        if fit is not None and medians:
            slope, intercept = fit
            xs_all = [x for x, _ in medians.values()]
            x0, x1 = min(xs_all), max(xs_all)
            pad = (x1 - x0) * 0.05 or 1.0
            x0, x1 = max(0.0, x0 - pad), x1 + pad
            ax.plot([x0, x1], [intercept + slope * x0, intercept + slope * x1], "--",
                    color="black", lw=1.0, label=_label(fit_label or "least-squares fit"), zorder=2)
        ax.set_xlabel(_label(xlabel))
        ax.set_ylabel(_label(ylabel))
        ax.set_title(_label(title))
        if medians:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        return _emit(fig, uid, title, to)

