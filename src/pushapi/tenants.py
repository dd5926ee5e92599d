"""Tenants and the callers of the API: who a request acts for (SPEC 2, SPEC 4.1 group kinds).

The SQL that creates, finds and lists them is in store/tenants.py; API keys are in keys.py.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PLATFORMS = ("marketing-pro", "community", "community-essentials")
# SPEC 3: where a tenant is hosted; a server serves one region (PUSHAPI_REGION).
Region = Literal["us", "ca"]
REGIONS: tuple[Region, ...] = ("us", "ca")
ESSENTIALS = "community-essentials"
DEFAULT_COMMUNITY_GROUP_TYPES = ("Committee", "Chapter", "Community", "Event", "SIG")
TENANT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class TenantError(Exception):
    """A tenant or key operation that cannot be done; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: int
    code: str
    platform: str
    region: str
    community_group_types: frozenset[str]
    created_at: datetime

    def group_kind(self, group_type: str | None) -> str:
        """SPEC 4.1: "community" when the GroupType is one of the tenant's community types."""
        if self.platform == ESSENTIALS or group_type not in self.community_group_types:
            return "security"
        return "community"


@dataclass(frozen=True, slots=True)
class Caller:
    """The tenant a request acts for, and the key it authenticated with."""

    tenant: Tenant
    key_id: str
    last_used_at: datetime | None = None  # as stored before this request


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: its id, and the key itself, shown once."""

    key_id: str
    api_key: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What is kept of a key: never the secret."""

    key_id: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
