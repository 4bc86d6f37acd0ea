"""Tables, one module per family. Importing this package registers them all on ``Base``."""

from dllab.db.models.base import Base
from dllab.db.models.hosts import Host
from dllab.db.models.units import Unit
from dllab.db.models.users import ApiToken, TokenKind, User, UserRole

__all__ = ["ApiToken", "Base", "Host", "TokenKind", "Unit", "User", "UserRole"]
