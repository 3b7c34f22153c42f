"""One report content model: the Markdown, HTML and merged reports show the same baseline, the
same comparisons and the same caveats, because they format one ``RunContent``."""

from __future__ import annotations

import dataclasses
import html as html_lib
import re

from loadbench import merge
from loadbench.model import LaunchStatus
from loadbench.report import content, html, markdown
from tests.unit.test_report_html import make_record


def _caveat_record() -> object:
    """A record that raises every caveat kind a report knows: incomplete, failed launches,
    tracing inflation, imported data, hypervisor steal, an inconclusive comparison."""
    rec = make_record(traced=True)
    ms = list(rec.measurements)
    # web: a third of its launches failed, and its latencies spread so wide that "no
    # difference" from hello cannot be told apart from a 10% change
    web = ms[3]
    samples = []
    for i, s in enumerate(web.samples):
        if i % 3 == 0:
            s = dataclasses.replace(s, status=LaunchStatus.EXIT_NONZERO, exit_code=3)
        samples.append(s)
    ms[3] = dataclasses.replace(web, samples=tuple(samples))
    noisy = ms[2]  # hello-sw: same centre as hello, very wide
    ms[2] = dataclasses.replace(noisy, samples=tuple(
        dataclasses.replace(s, wall_ns=int(s.wall_ns * (0.5 if i % 2 else 1.6)))
        for i, s in enumerate(noisy.samples)))
    probe = dataclasses.replace(rec.probe, settings={"not_recorded": ["faults_major"]})
    return dataclasses.replace(rec, measurements=tuple(ms), complete=False,
                               end_reason="interrupted by SIGINT", probe=probe,
                               host={**rec.host, "cpu_steal_pct": 7.5,
                                     "cpu_steal_pct_max_batch": 20.0})


def _plain_html(doc: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", doc))


def _plain_md(doc: str) -> str:
    return re.sub(r"\\(.)", r"\1", doc)


def test_every_caveat_kind_is_raised_and_shown_by_every_format() -> None:
    rec = _caveat_record()
    rc = content.run_content(rec)  # type: ignore[arg-type]
    kinds = {c.kind for c in rc.caveats}
    assert {"incomplete", "failed", "inflation", "imported", "steal", "inconclusive"} <= kinds
    md = _plain_md(markdown.render(rec))  # type: ignore[arg-type]
    page = _plain_html(html.render([rec]))  # type: ignore[list-item]
    other = dataclasses.replace(rec, run_id="r2")  # type: ignore[type-var]
    merged = _plain_md(markdown.render_merged(merge.merge([rec, other])))  # type: ignore[list-item]
    for c in rc.caveats:
        assert c.text in md, (c.kind, c.text)
        assert " ".join(c.text.split()) in " ".join(page.split()), (c.kind, c.text)
        assert c.text in merged, (c.kind, c.text)


def test_the_summary_carries_the_caveats_that_change_how_it_reads() -> None:
    rc = content.run_content(_caveat_record())  # type: ignore[arg-type]
    caveat_lines = [s for s in rc.summary if s.startswith("Caveat: ")]
    kinds = {c.kind for c in rc.caveats if f"Caveat: {c.text}" in caveat_lines}
    assert kinds == {"incomplete", "steal", "inflation", "imported", "inconclusive",
                     "within-run"}
    # failures are counted in the findings themselves, not repeated as a caveat
    assert any("launches failed and are left out" in s for s in rc.findings)


def test_one_baseline_rule_for_every_format() -> None:
    rec = make_record()
    rc = content.run_content(rec)
    assert rc.baseline == "hello" and rc.ratio_baselines == ("floor", "hello")
    assert {c.baseline for c in rc.comparisons} == {"hello"}
    md = markdown.render(rec)
    assert "Every variant against hello:" in md and "| x floor | x hello |" in md
    assert "Comparisons against hello" in html.render([rec])
    # without hello the first measurement with successful launches is the baseline
    no_hello = dataclasses.replace(rec, measurements=tuple(
        m for m in rec.measurements if m.name != "hello"))
    assert content.run_content(no_hello).baseline == "floor"


def test_markdown_escapes_html_and_markup_from_variant_names() -> None:
    rec = make_record()
    m0 = dataclasses.replace(rec.measurements[1], name="<b>x</b>|#&amp;")
    rec = dataclasses.replace(rec, measurements=(rec.measurements[0], m0,
                                                 *rec.measurements[2:]))
    md = markdown.render(rec)
    outside = re.sub(r"^(`{3,})sh\n.*?^\1$", "", md, flags=re.S | re.M)
    assert "<b>" not in outside and "\\<b\\>x\\</b\\>\\|\\#\\&amp;" in outside
    # a name cannot end the fenced block of commands early: the fence is longer than any run
    # of backticks inside it
    rec2 = dataclasses.replace(rec, measurements=(
        dataclasses.replace(m0, name="a\n```\n<script>x</script>"), *rec.measurements[2:]))
    md2 = markdown.render(rec2)
    fence = re.search(r"^(`{3,})sh$", md2, flags=re.M)
    assert fence and len(fence.group(1)) >= 4
    outside = re.sub(r"^(`{3,})sh\n.*?^\1$", "", md2, flags=re.S | re.M)
    assert "<script>" not in outside
