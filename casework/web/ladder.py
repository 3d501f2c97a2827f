"""The workflow drawn without JavaScript: a stage ladder of all 13 states, current one marked.

The main path reads top to bottom with the events between stages; the side stages (plan,
dispute) and the final ones say where they can be entered from. Built from the statechart
itself, so a new transition shows up here without editing a drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.dunning import DunningWorkflow

MAIN = ("preparation", "first_reminder", "follow_up", "formal_demand", "mediation",
        "legal_review", "lawyer_letter", "litigation")
SIDE = ("payment_plan", "disputed")
FINAL = ("paid", "written_off", "withdrawn")

_STATES = {s.id: s for s in DunningWorkflow.states}
if set(MAIN + SIDE + FINAL) != set(_STATES):  # every state must appear on the ladder
    raise RuntimeError(f"ladder misses states: {set(_STATES) - set(MAIN + SIDE + FINAL)}")


def _moves() -> list[tuple[str, str, str]]:
    out = []
    for state in DunningWorkflow.states:
        for t in state.transitions:
            for event in t.event.split():
                if (state.id, event, t.target.id) not in out and t.target.id != state.id:
                    out.append((state.id, event, t.target.id))
    return out


MOVES = _moves()


@dataclass
class Step:
    id: str
    status: str  # current, visited, ahead
    events_in: list[str] = field(default_factory=list)  # events from the previous main stage
    other_in: list[tuple[str, str]] = field(default_factory=list)  # (event, from) elsewhere
    sources: list[str] = field(default_factory=list)  # for side/final: where from


@dataclass
class Ladder:
    main: list[Step]
    side: list[Step]
    final: list[Step]
    current: str


def ladder(current: str, visited: set[str] | None = None) -> Ladder:
    visited = visited or set()

    def status(state_id: str) -> str:
        if state_id == current:
            return "current"
        return "visited" if state_id in visited else "ahead"

    main = []
    for i, state_id in enumerate(MAIN):
        prev = MAIN[i - 1] if i else None
        into = [(e, s) for s, e, t in MOVES if t == state_id]
        step = Step(state_id, status(state_id),
                    events_in=[e for e, s in into if s == prev],
                    other_in=[(e, s) for e, s in into if s != prev and s in MAIN])
        main.append(step)
    side = [Step(s, status(s), sources=sorted({src for src, _, t in MOVES if t == s},
                                              key=list(_STATES).index)) for s in SIDE]
    final = [Step(s, status(s), sources=sorted({src for src, _, t in MOVES if t == s},
                                               key=list(_STATES).index)) for s in FINAL]
    return Ladder(main, side, final, current)


def events_into(target: str) -> list[str]:
    return sorted({e for _, e, t in MOVES if t == target})
