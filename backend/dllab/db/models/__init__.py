"""Tables, one module per family. Importing this package registers them all on ``Base``."""

from dllab.db.models.base import Base
from dllab.db.models.environments import Desired, Environment
from dllab.db.models.hosts import Host, HostStatus
from dllab.db.models.images import Image
from dllab.db.models.jobs import Job, JobOutcome
from dllab.db.models.monitoring import (
    Alert,
    AlertDelivery,
    AlertRule,
    GpuReading,
    Policy,
    Reclaim,
)
from dllab.db.models.secrets import Secret
from dllab.db.models.serving import Model, ModelVersion, Service, ServiceReplica
from dllab.db.models.units import Unit
from dllab.db.models.users import ApiToken, TokenKind, User, UserRole
from dllab.db.models.workloads import LostPolicy, Workload

__all__ = ["Alert", "AlertDelivery", "AlertRule", "ApiToken", "Base", "Desired", "Environment",
           "GpuReading", "Host", "HostStatus", "Image", "Job", "JobOutcome", "LostPolicy",
           "Model", "ModelVersion", "Policy", "Reclaim", "Secret", "Service", "ServiceReplica",
           "TokenKind", "Unit", "User", "UserRole", "Workload"]
