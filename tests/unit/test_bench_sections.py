"""Each bench rewrites only its own section of docs/benchmarks.md."""
from __future__ import annotations

from tests.bench.sections import HEADER, write_section

A = ("<!-- bench:a:start -->", "<!-- bench:a:end -->")
B = ("<!-- bench:b:start -->", "<!-- bench:b:end -->")


def section(marks, body):
    return f"{marks[0]}\n{body}\n{marks[1]}"


def test_a_section_is_added_then_replaced_and_the_others_are_kept(tmp_path):
    doc = tmp_path / "docs" / "benchmarks.md"
    write_section(*A, section(A, "first a"), doc=doc)
    assert doc.read_text(encoding="utf-8").startswith(HEADER), "a new file starts with the header"
    write_section(*B, section(B, "only b"), doc=doc)
    write_section(*A, section(A, "second a"), doc=doc)
    text = doc.read_text(encoding="utf-8")
    assert "first a" not in text and text.count("second a") == 1 and text.count("only b") == 1
    assert text.index("second a") < text.index("only b"), "a section stays where it was"
    assert list(doc.parent.iterdir()) == [doc], "no temporary file left behind"
