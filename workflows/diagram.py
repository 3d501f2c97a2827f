"""The dunning workflow as text: a transition table with its rules, or Mermaid."""

from __future__ import annotations

from .dunning import EVENT_LABELS, STATE_LABELS, DunningWorkflow
from .rules import EVENT_RULES


def transition_table() -> str:
    """Every transition with its routing condition and guard rules, by stored id."""
    rows = ["| from | event | condition | rules | to |", "| --- | --- | --- | --- | --- |"]
    for state in DunningWorkflow.states:
        for t in state.transitions:
            for event in t.event.split():
                rules = ", ".join(r.name for r in EVENT_RULES.get(event, ()))
                rows.append(f"| {state.id} | {event} | {_conditions(t)} | {rules} "
                            f"| {t.target.id} |")
    return "\n".join(rows) + "\n"


def _conditions(transition) -> str:
    names = []
    for spec in transition.cond:
        attr = getattr(spec, "attr_name", None) or getattr(spec, "func", None)
        names.append(getattr(attr, "__name__", str(attr)))
    return " ".join(names)


def mermaid(active: str | None = None) -> str:
    """Mermaid stateDiagram with Chinese labels; `active` is highlighted."""
    lines = ["stateDiagram-v2", "    direction LR"]
    for state in DunningWorkflow.states:
        lines.append(f'    state "{state.name}" as {state.id}')
    lines.append("    [*] --> preparation")
    seen = set()
    for state in DunningWorkflow.states:
        if state.final:
            lines.append(f"    {state.id} --> [*]")
        for t in state.transitions:
            for event in t.event.split():
                key = (state.id, event, t.target.id)
                if key in seen:
                    continue
                seen.add(key)
                lines.append(f"    {state.id} --> {t.target.id} : {EVENT_LABELS[event][0]}")
    if active:
        lines += ["    classDef active fill:#f6c343,stroke:#333,stroke-width:2px",
                  f"    class {active} active"]
    return "\n".join(lines) + "\n"


def render(fmt: str, active: str | None = None) -> str:
    if fmt == "md":
        return transition_table()
    return mermaid(active)


__all__ = ["STATE_LABELS", "mermaid", "render", "transition_table"]
