"""The `flamenco` command's admin subcommands, against the test database."""
from __future__ import annotations

import subprocess
import sys

from bson import ObjectId
from click.testing import CliRunner

from flamenco.auth import tokens
from flamenco.cli import main


def run(mongo_uri: str, *args: str):
    return CliRunner().invoke(main, list(args), env={"MONGO_URI": mongo_uri}, catch_exceptions=False)


def test_create_user_token_project_manager(mongo_uri, mongo_db):
    result = run(mongo_uri, "create-user", "erin", "--role", "flamenco-user", "--password", "pw",
                 "--full-name", "Erin E")
    assert result.exit_code == 0, result.output
    user_id = ObjectId(result.output.strip())
    user = mongo_db["users"].find_one({"_id": user_id})
    assert user["roles"] == ["flamenco-user"] and user["password_hash"].startswith("$2")

    result = run(mongo_uri, "create-token", "erin")
    assert result.exit_code == 0
    assert tokens.user_for_token(mongo_db, result.output.strip())["_id"] == user_id

    result = run(mongo_uri, "create-project", "Shot 010", "--member", "erin:member")
    assert result.exit_code == 0, result.output
    project = mongo_db["projects"].find_one({"_id": ObjectId(result.output.strip())})
    assert project["url"] == "shot-010"
    assert project["members"] == [{"user": user_id, "role": "member"}]

    result = run(mongo_uri, "create-manager", "Farm", "--owner", "erin", "--project", "shot-010")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.strip().splitlines())
    manager = mongo_db["flamenco_managers"].find_one({"_id": ObjectId(lines["manager_id"])})
    assert manager["projects"] == [project["_id"]] and manager["owner_users"] == [user_id]
    account = tokens.user_for_token(mongo_db, lines["token"])
    assert account["_id"] == manager["service_account"]
    assert lines["token"].startswith("SRV")


def test_cli_errors_are_messages_not_tracebacks(mongo_uri):
    assert run(mongo_uri, "create-user", "x", "--role", "wizard").exit_code != 0
    result = run(mongo_uri, "create-token", "nobody")
    assert result.exit_code == 1 and "no user 'nobody'" in result.output
    run(mongo_uri, "create-user", "dup")
    result = run(mongo_uri, "create-user", "dup")
    assert result.exit_code == 1 and "already exists" in result.output
    result = run(mongo_uri, "create-project", "Bad", "--url", "Not A Slug")
    assert result.exit_code == 1 and "lower-case" in result.output
    result = run(mongo_uri, "create-manager", "M", "--project", "missing")
    assert result.exit_code == 1 and "no project" in result.output


def test_python_dash_m_lists_commands():
    out = subprocess.run([sys.executable, "-m", "flamenco.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("server", "create-user", "create-token", "create-project", "create-manager"):
        assert command in out


def test_an_unreachable_database_is_one_clear_line_without_the_password():
    from flamenco.farm.services import free_port

    uri = f"mongodb://admin:s3cret-pw@127.0.0.1:{free_port()}/flamenco?serverSelectionTimeoutMS=300"
    result = CliRunner().invoke(main, ["create-token", "erin"], env={"MONGO_URI": uri})
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output and "127.0.0.1" in result.output
    assert "s3cret-pw" not in result.output and "Traceback" not in result.output
