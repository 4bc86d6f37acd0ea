"""The commands an agent serves: thin Celery tasks over plain functions.

Each command checks the world before acting, because ``acks_late`` means a command can be
delivered twice (an agent killed mid-task gets it again): starting a unit that exists does
nothing new, stopping a missing unit is a success. Either way the control plane hears what
is true afterwards.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from pydantic import ValidationError

from dllab import protocol
from dllab.protocol import ObservedState, UnitReport, UnitSpec
from dllab_agent.context import AgentContext, describe
from dllab_agent.runtime.base import RuntimeStartError
from dllab_agent.volumes import refused_mount, remove_workspace, with_workspace

log = logging.getLogger("dllab_agent")


def start_unit(ctx: AgentContext, spec_data: dict[str, Any]) -> UnitReport | None:
    """Start the unit unless it exists; report its state. ``None``: no unit id to report."""
    try:
        spec = UnitSpec.model_validate(spec_data)
    except ValidationError as exc:
        unit_id = spec_data.get("unit_id") if isinstance(spec_data, dict) else None
        log.error("start_unit %s refused: invalid unit spec: %s", unit_id, exc)
        if not isinstance(unit_id, str):
            return None
        report = UnitReport(
            unit_id=unit_id, state=ObservedState.exited, error=f"invalid unit spec: {exc}"
        )
        ctx.report(report)
        return report
    log.info("start_unit %s (%s) received", spec.unit_id, spec.name)
    with ctx.unit_lock(spec.unit_id):
        current = ctx.runtime.inspect(spec.unit_id)
        refused = refused_mount(spec, ctx.volume_roots)
        if spec.runtime is not None and spec.runtime != ctx.runtime.kind:
            refused = f"unit needs the {spec.runtime} runtime; this host runs {ctx.runtime.kind}"
        if current.state is not ObservedState.missing:
            log.info("unit %s exists (%s): not starting it again", spec.unit_id, describe(current))
            report = current
        elif refused:
            log.warning("unit %s refused: %s", spec.unit_id, refused)
            report = UnitReport(unit_id=spec.unit_id, state=ObservedState.exited, error=refused)
        else:
            try:
                report = ctx.runtime.start(with_workspace(spec, ctx.workspace_root))
            except (RuntimeStartError, OSError) as exc:
                log.warning("unit %s could not start: %s", spec.unit_id, exc)
                report = UnitReport(
                    unit_id=spec.unit_id, state=ObservedState.exited, error=str(exc)
                )
        ctx.report(report)
    return report


def stop_unit(ctx: AgentContext, unit_id: str) -> UnitReport:
    """Stop and remove the unit (a missing one is already stopped); report it missing."""
    log.info("stop_unit %s received", unit_id)
    with ctx.unit_lock(unit_id):
        ctx.runtime.stop(unit_id, timeout=ctx.stop_timeout)
        report = UnitReport(unit_id=unit_id, state=ObservedState.missing)
        ctx.report(report)
    return report


def remove_workspace_task(ctx: AgentContext, workspace_id: str) -> None:
    try:
        removed = remove_workspace(ctx.workspace_root, workspace_id)
    except (ValueError, OSError) as exc:
        log.error("remove_workspace %s failed: %s", workspace_id, exc)
        return
    log.info("workspace %s %s", workspace_id, "removed" if removed else "was not here")


def register_tasks(app: Celery, ctx: AgentContext) -> None:
    """Bind the commands to ``ctx`` on ``app`` only (``shared=False``: other apps in the
    process, such as a second agent in a test, keep their own)."""

    @app.task(name=protocol.TASK_START_UNIT, shared=False, ignore_result=True)
    def start_unit_task(spec: dict[str, Any]) -> None:
        start_unit(ctx, spec)

    @app.task(name=protocol.TASK_STOP_UNIT, shared=False, ignore_result=True)
    def stop_unit_task(unit_id: str) -> None:
        stop_unit(ctx, unit_id)

    @app.task(name=protocol.TASK_REMOVE_WORKSPACE, shared=False, ignore_result=True)
    def remove_workspace_(workspace_id: str) -> None:
        remove_workspace_task(ctx, workspace_id)
