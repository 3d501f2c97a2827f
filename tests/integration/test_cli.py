"""`flask diagram`: the workflow as Mermaid (optionally with a case's state) or as a table."""

from __future__ import annotations

import pytest

from casework import services
from tests.factories import fast_password_hashing
from workflows.diagram import transition_table
from workflows.dunning import STATE_IDS


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


def test_diagram_prints_mermaid_with_every_state(runner):
    result = runner.invoke(args=["diagram"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("stateDiagram-v2")
    for state in STATE_IDS:
        assert f" as {state}\n" in out, state
    assert '"书面催告" as formal_demand' in out
    assert "[*] --> preparation" in out
    for final in ("paid", "written_off", "withdrawn"):
        assert f"{final} --> [*]" in out
    assert "lawyer_letter --> litigation" in out
    assert "class " not in out  # nothing highlighted without --case


def test_diagram_highlights_the_state_of_a_case(estate, now, runner):
    result = runner.invoke(args=["diagram", "--case", str(estate.case.id)])
    assert result.exit_code == 0, result.output
    assert "class preparation active" in result.output
    assert "classDef active" in result.output

    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=now)
    result = runner.invoke(args=["diagram", "--case", str(estate.case.id)])
    assert "class first_reminder active" in result.output
    assert "class preparation active" not in result.output


def test_diagram_of_an_unknown_case_fails(app, runner):
    result = runner.invoke(args=["diagram", "--case", "424242"])
    assert result.exit_code != 0
    assert "424242" in result.output


def test_diagram_as_markdown_prints_the_transition_table(runner):
    result = runner.invoke(args=["diagram", "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip("\n") == transition_table().rstrip("\n")
    assert "| lawyer_letter | file_claim |" in result.output


def test_diagram_writes_to_a_file(runner, tmp_path):
    target = tmp_path / "dunning.md"
    result = runner.invoke(args=["diagram", "--format", "md", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == transition_table()


def test_an_unknown_format_is_refused(runner):
    result = runner.invoke(args=["diagram", "--format", "svg"])
    assert result.exit_code == 2
