"""``dllab.services.agents.next_state``: every unit state against every observed report."""

from __future__ import annotations

import pytest

from dllab.protocol import FINAL_UNIT_STATES, ObservedState, UnitReport, UnitState
from dllab.services.agents import next_state

S = UnitState
Obs = ObservedState

# (current, observed, exit code) -> new state; None leaves the unit as it is.
TABLE = {
    # Sent, not yet seen running: the agent's word moves it on.
    (S.queued, Obs.starting, None): S.starting,
    (S.queued, Obs.running, None): S.running,
    (S.queued, Obs.exited, 0): S.exited,
    (S.queued, Obs.exited, 1): S.failed,
    (S.queued, Obs.missing, None): S.lost,
    (S.starting, Obs.starting, None): S.starting,
    (S.starting, Obs.running, None): S.running,
    (S.starting, Obs.exited, 0): S.exited,
    (S.starting, Obs.exited, 2): S.failed,
    (S.starting, Obs.exited, None): S.failed,
    (S.starting, Obs.missing, None): S.lost,
    # Running: only an end changes it; a late "starting" never goes back.
    (S.running, Obs.starting, None): None,
    (S.running, Obs.running, None): None,
    (S.running, Obs.exited, 0): S.exited,
    (S.running, Obs.exited, 3): S.failed,
    (S.running, Obs.exited, -9): S.failed,
    (S.running, Obs.missing, None): S.lost,
    # Stopping: stopped once the host no longer has it; until then it stays stopping,
    # whatever a heartbeat sent before the stop says.
    (S.stopping, Obs.starting, None): None,
    (S.stopping, Obs.running, None): None,
    (S.stopping, Obs.exited, 0): None,
    (S.stopping, Obs.exited, 143): None,
    (S.stopping, Obs.missing, None): S.stopped,
}


def report(state: ObservedState, exit_code: int | None) -> UnitReport:
    return UnitReport(unit_id="0" * 32, state=state, exit_code=exit_code)


@pytest.mark.parametrize("current, observed, exit_code, expected",
                         [(*key, new) for key, new in TABLE.items()],
                         ids=[f"{c}-{o}-{e}" for c, o, e in TABLE])
def test_next_state(current, observed, exit_code, expected):
    assert next_state(current, report(observed, exit_code)) == expected


def test_table_covers_every_non_final_state_and_observation():
    covered = {(current, observed) for current, observed, _ in TABLE}
    live = [s for s in UnitState if not s.final]
    assert covered == {(s, o) for s in live for o in ObservedState}


@pytest.mark.parametrize("current", sorted(FINAL_UNIT_STATES))
@pytest.mark.parametrize("observed, exit_code", [(Obs.starting, None), (Obs.running, None),
                                                 (Obs.exited, 0), (Obs.exited, 1),
                                                 (Obs.missing, None)])
def test_final_states_are_never_left(current, observed, exit_code):
    assert next_state(current, report(observed, exit_code)) is None


def test_final_states_are_the_last_four():
    assert [s for s in UnitState if s.final] == [S.stopped, S.exited, S.failed, S.lost]


def test_new_state_is_never_stopping_or_queued():
    """Only the API stops a unit and only the API records one; agents never do."""
    results = {next_state(c, report(o, e)) for c in UnitState for o in ObservedState
               for e in (None, 0, 1)}
    assert S.stopping not in results and S.queued not in results
