"""The statechart as text, compared with the reviewed snapshots in tests/snapshots/.

A change to a state, event, routing condition or rule changes these files; review the diff
and regenerate with UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_snapshot.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workflows.diagram import transition_table
from workflows.dunning import DunningWorkflow

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


def _library_markdown() -> str:
    return f"{DunningWorkflow:md}".rstrip("\n") + "\n"


CASES = {
    "dunning_transitions.md": transition_table,
    "dunning_workflow_lib.md": _library_markdown,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot(name):
    path = SNAPSHOTS / name
    text = CASES[name]()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_SNAPSHOTS=1 and commit it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from the snapshot: review the change, then run with UPDATE_SNAPSHOTS=1")


def test_the_transition_table_lists_every_stored_id():
    table = transition_table()
    for state in DunningWorkflow.states:
        if not state.final:
            assert f"| {state.id} |" in table
    for event in ("start_outreach", "file_claim", "break_plan", "resolve_dispute", "withdraw"):
        assert f"| {event} |" in table
