"""The strict base every case workflow uses."""

from __future__ import annotations

from statemachine import StateMachine


class CaseWorkflow(StateMachine):
    """A StateMachine with strict defaults, spelled out because they are load-bearing.

    An unknown event raises, an action's error propagates (so the service rolls the
    transaction back) and the state field is written once per transition.
    """

    allow_event_without_transition = False
    catch_errors_as_events = False
    atomic_configuration_update = True
    enable_self_transition_entries = False
