"""``flamenco grant-role`` / ``revoke-role``: an admin gives an existing user a role (issue 13).

Without them the only way to make someone a ``flamenco-programmer`` (who may
choose what the render nodes run) was editing the database by hand.
"""
from __future__ import annotations

from bson import ObjectId
from click.testing import CliRunner, Result

from flamenco.auth import roles
from flamenco.cli import main


def run(mongo_uri: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"MONGO_URI": mongo_uri}, catch_exceptions=False)


def user_roles(mongo_db, username: str) -> list[str]:
    return sorted(mongo_db["users"].find_one({"username": username})["roles"])


def test_grant_and_revoke_programmer(mongo_uri, mongo_db) -> None:
    assert run(mongo_uri, "create-user", "pat").exit_code == 0
    etag = mongo_db["users"].find_one({"username": "pat"})["_etag"]

    result = run(mongo_uri, "grant-role", "pat", roles.ROLE_PROGRAMMER)
    assert result.exit_code == 0, result.output
    assert user_roles(mongo_db, "pat") == sorted([roles.ROLE_USER, roles.ROLE_PROGRAMMER])
    assert result.output.split() == sorted([roles.ROLE_USER, roles.ROLE_PROGRAMMER])
    assert roles.CAP_RUN_PROGRAMS in roles.capabilities_for(user_roles(mongo_db, "pat"))
    assert mongo_db["users"].find_one({"username": "pat"})["_etag"] != etag  # If-Match sees the change

    assert run(mongo_uri, "grant-role", "pat", roles.ROLE_PROGRAMMER).exit_code == 0  # no duplicate
    assert user_roles(mongo_db, "pat") == sorted([roles.ROLE_USER, roles.ROLE_PROGRAMMER])

    result = run(mongo_uri, "revoke-role", "pat", roles.ROLE_PROGRAMMER)
    assert result.exit_code == 0, result.output
    assert user_roles(mongo_db, "pat") == [roles.ROLE_USER]
    assert roles.CAP_RUN_PROGRAMS not in roles.capabilities_for(user_roles(mongo_db, "pat"))


def test_unknown_user_or_role_is_a_clear_error(mongo_uri, mongo_db) -> None:
    run(mongo_uri, "create-user", "pat")
    result = run(mongo_uri, "grant-role", "nobody", roles.ROLE_PROGRAMMER)
    assert result.exit_code == 1 and "no user 'nobody'" in result.output
    for command in ("grant-role", "revoke-role"):
        result = run(mongo_uri, command, "pat", "wizard")
        assert result.exit_code == 1, result.output
        assert "unknown role 'wizard'" in result.output and roles.ROLE_PROGRAMMER in result.output
        assert "Traceback" not in result.output
    assert user_roles(mongo_db, "pat") == [roles.ROLE_USER]


def test_service_roles_and_accounts_are_not_changed(mongo_uri, mongo_db) -> None:
    run(mongo_uri, "create-user", "pat")
    result = run(mongo_uri, "grant-role", "pat", roles.ROLE_MANAGER)
    assert result.exit_code == 1 and "service accounts" in result.output
    lines = dict(line.split(": ", 1) for line in run(mongo_uri, "create-manager", "M").output.strip().splitlines())
    account = mongo_db["flamenco_managers"].find_one({"_id": ObjectId(lines["manager_id"])})
    service = mongo_db["users"].find_one({"_id": account["service_account"]})
    result = run(mongo_uri, "grant-role", service["username"], roles.ROLE_ADMIN)
    assert result.exit_code == 1 and "service account" in result.output
    assert roles.ROLE_ADMIN not in mongo_db["users"].find_one({"_id": service["_id"]})["roles"]


def test_flamenco_admin_does_not_imply_running_programs() -> None:
    """Deliberate (SECURITY.md): managing Managers is not choosing what the nodes run."""
    assert roles.CAP_RUN_PROGRAMS not in roles.capabilities_for([roles.ROLE_FLAMENCO_ADMIN])
    assert roles.CAP_RUN_PROGRAMS in roles.capabilities_for([roles.ROLE_ADMIN])
