"""``flamenco create-user``, ``create-token``, ``create-project``, ``create-manager``, ``grant-role``,
``revoke-role``: administration on the server's database (``MONGO_URI``).

An unreachable database is a one-line error, not a pymongo traceback.
"""
from __future__ import annotations

import uuid

import click
import pymongo
import pymongo.errors
from pymongo.database import Database

from flamenco import app as server_app
from flamenco import clock, defaults
from flamenco.auth import roles, tokens
from flamenco.cli import main
from flamenco.store.collections import PROJECTS, USERS


def _database() -> Database:
    """The configured database (MONGO_URI from the environment or defaults), checked to answer."""
    cfg = server_app.load_config()
    client: pymongo.MongoClient = pymongo.MongoClient(cfg["MONGO_URI"], **server_app.mongo_client_options(cfg))
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as ex:
        # The URI may hold a password: name only the hosts tried.
        raise click.ClickException(f"cannot reach the database (MONGO_URI, {', '.join(_hosts(cfg['MONGO_URI']))}): "
                                   f"{type(ex).__name__}") from None
    return client.get_default_database()


def _hosts(uri: str) -> list[str]:
    try:
        return [f"{host}:{port}" for host, port in pymongo.uri_parser.parse_uri(uri)["nodelist"]]
    except (pymongo.errors.PyMongoError, ValueError):
        return ["an unparsable URI"]


@main.command("create-user")
@click.argument("username")
@click.option("--role", "roles_", multiple=True, default=("flamenco-user",), show_default=True,
              help="Role to grant; repeat for several (admin, flamenco-admin, flamenco-user, flamenco-programmer, "
                   "flamenco-viewer, flamenco-metrics). Later: grant-role, revoke-role.")
@click.option("--password", default=None, help="Dashboard password (omit for token-only accounts).")
@click.option("--full-name", default="")
@click.option("--email", default="")
def create_user(username: str, roles_: tuple[str, ...], password: str | None, full_name: str, email: str) -> None:
    """Create a user account and print its id."""
    from flamenco import users

    try:
        doc = users.create_user(_database(), username, roles_=roles_, password=password,
                                full_name=full_name, email=email)
    except users.UserError as ex:
        raise click.ClickException(str(ex)) from None
    click.echo(str(doc["_id"]))


@main.command("create-token")
@click.argument("username")
@click.option("--days", default=defaults.TOKEN_EXPIRY_DAYS, show_default=True, type=float)
def create_token(username: str, days: float) -> None:
    """Issue an API token for a user and print it (it is shown only once)."""
    db = _database()
    user = db[USERS].find_one({"username": username})
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    click.echo(tokens.generate_token(db, user["_id"], days=days))


@main.command("create-project")
@click.argument("name")
@click.option("--url", default=None, help="URL slug [default: derived from the name]")
@click.option("--member", "members", multiple=True, metavar="USERNAME[:ROLE]",
              help="Member to add (role admin, member or viewer; default admin); repeatable.")
def create_project(name: str, url: str | None, members: tuple[str, ...]) -> None:
    """Create a Flamenco project and print its id."""
    from flamenco import projects

    db = _database()
    member_list = []
    for spec in members:
        username, _, role = spec.partition(":")
        user = db[USERS].find_one({"username": username}, {"_id": 1})
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        member_list.append((user["_id"], role or projects.ROLE_ADMIN))
    try:
        doc = projects.create_project(db, name, url=url, members=member_list)
    except projects.ProjectError as ex:
        raise click.ClickException(str(ex)) from None
    click.echo(str(doc["_id"]))


@main.command("create-manager")
@click.argument("name")
@click.option("--owner", default=None, help="Username of the owner.")
@click.option("--project", "project_urls", multiple=True, help="URL slug of a project to assign; repeatable.")
@click.option("--description", default="")
def create_manager(name: str, owner: str | None, project_urls: tuple[str, ...], description: str) -> None:
    """Create a Manager with its service account; print its id and token."""
    from flamenco import managers

    db = _database()
    owner_id = None
    if owner:
        user = db[USERS].find_one({"username": owner}, {"_id": 1})
        if user is None:
            raise click.ClickException(f"no user {owner!r}")
        owner_id = user["_id"]
    project_ids = []
    for url in project_urls:
        project = db[PROJECTS].find_one({"url": url}, {"_id": 1})
        if project is None:
            raise click.ClickException(f"no project with url {url!r}")
        project_ids.append(project["_id"])
    try:
        doc, token = managers.create_manager(db, name, description=description, owner=owner_id,
                                             projects=project_ids, enforce_limit=False)
    except managers.ManagerError as ex:
        raise click.ClickException(str(ex)) from None
    click.echo(f"manager_id: {doc['_id']}")
    click.echo(f"token: {token}")


# Roles that mark a Manager's service account: set when the Manager is
# created, never granted to or revoked from a person.
SERVICE_ROLES = frozenset({roles.ROLE_MANAGER, roles.ROLE_SERVICE})


def _role_to_change(role: str) -> str:
    """``role`` when an admin may grant or revoke it; a CLI error naming the known roles otherwise."""
    if role in SERVICE_ROLES:
        raise click.ClickException(f"role {role!r} belongs to Manager service accounts; create a Manager instead")
    if role not in roles.KNOWN_ROLES:
        known = ", ".join(sorted(roles.KNOWN_ROLES - SERVICE_ROLES))
        raise click.ClickException(f"unknown role {role!r}; known roles: {known}")
    return role


def _change_roles(username: str, update: dict) -> list[str]:
    """Apply a ``roles`` update to a person's account; return the roles it has now.

    The roles are read on every request, so the change applies to the
    user's tokens and sessions at once.
    """
    db = _database()
    user = db[USERS].find_one({"username": username}, {"service": 1})
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    if user.get("service"):
        raise click.ClickException(f"{username!r} is a Manager's service account; its roles are fixed")
    update["$set"] = {"_updated": clock.utcnow(), "_etag": uuid.uuid4().hex}
    db[USERS].update_one({"_id": user["_id"]}, update)
    return sorted((db[USERS].find_one({"_id": user["_id"]}, {"roles": 1}) or {}).get("roles") or [])


@main.command("grant-role")
@click.argument("username")
@click.argument("role")
def grant_role(username: str, role: str) -> None:
    """Give USERNAME the role ROLE (e.g. flamenco-programmer) and print their roles."""
    click.echo(" ".join(_change_roles(username, {"$addToSet": {"roles": _role_to_change(role)}})))


@main.command("revoke-role")
@click.argument("username")
@click.argument("role")
def revoke_role(username: str, role: str) -> None:
    """Take the role ROLE away from USERNAME and print their remaining roles."""
    click.echo(" ".join(_change_roles(username, {"$pull": {"roles": _role_to_change(role)}})))
