"""Roles and the capabilities they grant (docs/contracts.md).

Capabilities decide *what kind* of action a user may take at all; project
membership (``flamenco.projects``) decides *which* jobs it applies to.
"""
from __future__ import annotations

from typing import Iterable

CAP_USE = "flamenco-use"
CAP_VIEW = "flamenco-view"
CAP_VIEW_LOGS = "flamenco-view-logs"
CAP_ADMIN = "flamenco-admin"
# Scrape /metrics (farm-wide counts of jobs, tasks, Managers and workers).
CAP_METRICS = "flamenco-metrics"
# Make render nodes run programs of the caller's choosing: exec-command jobs,
# executables other than the Manager's defaults, RNA-override Python
# (flamenco.jobs.program_gate). Plain members lack it; admins grant it.
CAP_RUN_PROGRAMS = "flamenco-run-programs"
# The global superuser capability; only role ``admin`` has it.
CAP_SUPERUSER = "admin"

ALL_CAPS = frozenset({CAP_USE, CAP_VIEW, CAP_VIEW_LOGS, CAP_ADMIN, CAP_METRICS, CAP_RUN_PROGRAMS, CAP_SUPERUSER})

ROLE_ADMIN = "admin"
ROLE_FLAMENCO_ADMIN = "flamenco-admin"
ROLE_USER = "flamenco-user"
# A user who may also choose what the render nodes run (CAP_RUN_PROGRAMS).
ROLE_PROGRAMMER = "flamenco-programmer"
ROLE_VIEWER = "flamenco-viewer"
# For Prometheus' token: may scrape /metrics and nothing else.
ROLE_METRICS = "flamenco-metrics"
# Manager service accounts carry both roles, as in Flamenco 2.
ROLE_MANAGER = "flamenco_manager"
ROLE_SERVICE = "service"

_USER_CAPS = frozenset({CAP_USE, CAP_VIEW, CAP_VIEW_LOGS})

ROLE_CAPS: dict[str, frozenset[str]] = {
    ROLE_ADMIN: ALL_CAPS,
    ROLE_FLAMENCO_ADMIN: _USER_CAPS | {CAP_ADMIN},
    ROLE_USER: _USER_CAPS,
    ROLE_PROGRAMMER: _USER_CAPS | {CAP_RUN_PROGRAMS},
    ROLE_VIEWER: frozenset({CAP_VIEW}),
    ROLE_METRICS: frozenset({CAP_METRICS}),
    ROLE_MANAGER: frozenset(),
    ROLE_SERVICE: frozenset(),
}
KNOWN_ROLES = frozenset(ROLE_CAPS)


def capabilities_for(roles: Iterable[str]) -> frozenset[str]:
    """Union of the capabilities of all roles; unknown roles grant nothing."""
    caps: set[str] = set()
    for role in roles:
        caps |= ROLE_CAPS.get(role, frozenset())
    return frozenset(caps)
