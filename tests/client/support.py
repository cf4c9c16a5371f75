"""Shared by tests/client and tests/addon: one real server per test module, and
fresh accounts (user, token, project, Manager) per test on it.

Starting a server process takes a second or two, so a module shares one on its
own database; each test makes uniquely named users, so tests never see each
other's projects or jobs (listings are scoped to project membership).
"""
from __future__ import annotations

import contextlib
import dataclasses
import uuid
from typing import Iterator

import pymongo
from pymongo.database import Database

from tests.conftest import with_database
from tests.support.server import make_manager, make_project, make_token, make_user, running_server

# Redis database of the module-wide servers: not 0, which function-scoped
# fixtures of other tests flush.
REDIS_DB = 3


@dataclasses.dataclass(frozen=True)
class Site:
    """A running server and a handle on its database."""

    url: str
    db: Database


@dataclasses.dataclass(frozen=True)
class Account:
    """A user with a token, member of ``projects`` served by ``managers``."""

    user: dict
    token: str
    projects: list[dict]
    managers: list[dict]

    @property
    def project(self) -> dict:
        return self.projects[0]

    @property
    def manager(self) -> dict:
        return self.managers[0]


@contextlib.contextmanager
def module_site(mongo_server: str, redis_server: str) -> Iterator[Site]:
    """A server on a database of its own; dropped afterwards."""
    name = "t_client_" + uuid.uuid4().hex[:12]
    uri = with_database(mongo_server, name)
    client = pymongo.MongoClient(uri, tz_aware=True)
    try:
        with running_server(uri, f"{redis_server}/{REDIS_DB}") as url:
            yield Site(url=url, db=client.get_default_database())
    finally:
        client.drop_database(name)
        client.close()


def make_account(db: Database, *, projects: int = 1, managers_per_project: int = 1,
                 role: str = "member", user_roles: tuple[str, ...] = ("flamenco-user",)) -> Account:
    """A new user with ``projects`` projects, each with its own Managers."""
    tag = uuid.uuid4().hex[:8]
    user = make_user(db, f"user-{tag}", roles=user_roles, full_name=f"User {tag}")
    project_docs, manager_docs = [], []
    for p in range(projects):
        project = make_project(db, f"Project {tag} {p}", members=[(user, role)], url=f"p-{tag}-{p}")
        project_docs.append(project)
        for m in range(managers_per_project):
            manager, _token = make_manager(db, projects=[project], owner=user, name=f"Manager {tag} {p}.{m}")
            manager_docs.append(manager)
    return Account(user=user, token=make_token(db, user), projects=project_docs, managers=manager_docs)
