from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from dllab.monitoring.rules import Metric
from dllab.schemas.common import Input, Name

Severity = Literal["info", "warning", "critical"]
MAX_DURATION = 30 * 86400.0
_HTTP_URL = TypeAdapter(HttpUrl)


def _webhook_url(text: str) -> str:
    try:
        _HTTP_URL.validate_python(text)
    except ValidationError:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. "
                         "https://hooks.example.com/dllab") from None
    return text


WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=2000),
                       AfterValidator(_webhook_url),
                       Field(description="an http(s) URL that each firing and resolving is "
                                         "POSTed to as JSON: {event, alert}")]
# Not strict: JSON has no enums, so the metric arrives as a string.
MetricField = Annotated[Metric, Field(strict=False, description=(
    "gpu_util (%), memory_used_pct (%), temperature_c, power_w, sm_clock_mhz, ecc_errors "
    "(uncorrected, since the driver loaded), xid_errors (the last XID; 0: none), "
    "host_silent_seconds (since the host was last heard from)"))]
Op = Annotated[Literal[">", "<"], Field(description="fire while value > threshold, or <")]
Threshold = Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]
Duration = Annotated[float, Field(ge=0, le=MAX_DURATION, allow_inf_nan=False, description=(
    "how long the condition must hold before the alert fires; 0: at once"))]
HostScope = Annotated[Name, Field(description="judge only this host's GPUs; null: every host")]


class RuleCreate(Input):
    name: Name
    metric: MetricField
    op: Op
    threshold: Threshold
    duration_seconds: Duration = 0.0
    severity: Severity = "warning"
    host: HostScope | None = None
    allocated_only: bool = Field(default=False, description=(
        "judge only GPUs that a unit holds (for host_silent_seconds: hosts running units); "
        "the alert names the workload and its owner, who sees it"))
    enabled: bool = True
    webhook_url: WebhookUrl | None = None


# Columns that may not be null: a PATCH that sends null for one of these is refused.
_REQUIRED = ("name", "metric", "op", "threshold", "duration_seconds", "severity",
             "allocated_only", "enabled")


class RuleUpdate(Input):
    """Fields left out stay as they are; ``host`` and ``webhook_url`` null clear them."""

    name: Name | None = None
    metric: MetricField | None = None
    op: Op | None = None
    threshold: Threshold | None = None
    duration_seconds: Duration | None = None
    severity: Severity | None = None
    host: HostScope | None = None
    allocated_only: bool | None = None
    enabled: bool | None = None
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="after")
    def _no_null_required(self) -> RuleUpdate:
        nulls = [f for f in _REQUIRED if f in self.model_fields_set and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may be left out, not null")
        return self


class RulePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    metric: Metric
    op: str
    threshold: float
    duration_seconds: float
    severity: str
    host: str | None
    allocated_only: bool
    enabled: bool
    webhook_url: str | None
    created_at: datetime


class AlertState(StrEnum):
    firing = "firing"  # the condition holds (or was last seen holding)
    resolved = "resolved"  # it stopped holding, or its rule was disabled or removed


class DeliveryPublic(BaseModel):
    """One webhook call owed for the alert (its URL is shown to admins in the rule)."""

    event: AlertState
    attempts: int = Field(description="calls made so far")
    delivered_at: datetime | None = Field(description="when it got a 2xx answer")
    next_at: datetime | None = Field(description="the next try; null once delivered or "
                                                 "given up")
    last_error: str | None


class AlertPublic(BaseModel):
    id: int
    rule: str = Field(description="the rule's name when it fired")
    rule_id: int | None = Field(description="null once the rule is removed")
    metric: Metric
    severity: str
    host: str
    gpu: int | None = Field(description="physical index; null: the host as a whole")
    workload: str | None = Field(description="the workload holding the GPU when it fired")
    owner: str | None = Field(description="that workload's owner, who sees the alert")
    value: float | None = Field(description="the metric's value when it fired")
    message: str
    state: AlertState
    started_at: datetime
    resolved_at: datetime | None
    deliveries: list[DeliveryPublic] = Field(default_factory=list)
