"""The dashboard's "Get the add-on" download (issue 14): a zip Blender installs, for logged-in users only."""
from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import flask

from tests.addon.conftest import blender  # noqa: F401 (fixture)
from tests.addon.support import BLENDER_TIMEOUT

ADDON_URL = "/settings/addon/flamenco_submit.zip"
# Installs the zip as Blender's preferences do, into a scratch user dir, and enables it.
INSTALL_SCRIPT = """
import sys, bpy, addon_utils
zip_path = sys.argv[sys.argv.index("--") + 1]
bpy.ops.preferences.addon_install(filepath=zip_path, overwrite=True)
bpy.ops.preferences.addon_enable(module="flamenco_submit")
mod = sys.modules["flamenco_submit"]
print("ENABLED", "flamenco_submit" in bpy.context.preferences.addons, mod.bl_info["name"])
print("OPERATOR", hasattr(bpy.types, "FLAMENCO_OT_submit_job"))
print("FROM", mod.__file__)
"""


def test_logged_in_user_gets_a_zip_blender_installs(alice: flask.testing.FlaskClient, blender: str,
                                                   tmp_path: Path):
    resp = alice.get(ADDON_URL)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/zip"
    assert "attachment" in resp.headers["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    assert "flamenco_submit/__init__.py" in names
    assert all(n.startswith("flamenco_submit/") for n in names), "the top folder is the add-on package"
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    zip_path = tmp_path / "flamenco_submit.zip"
    zip_path.write_bytes(resp.data)

    user_dir = tmp_path / "blender-user"
    env = {"BLENDER_USER_CONFIG": str(user_dir / "config"), "BLENDER_USER_SCRIPTS": str(user_dir / "scripts"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr",
                           INSTALL_SCRIPT, "--", str(zip_path)], capture_output=True, text=True,
                          timeout=BLENDER_TIMEOUT, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ENABLED True Flamenco Submit" in done.stdout, done.stdout[-2000:]
    assert "OPERATOR True" in done.stdout
    installed = user_dir / "scripts" / "addons" / "flamenco_submit" / "__init__.py"
    assert f"FROM {installed}" in done.stdout, "Blender loads the add-on it installed from the zip"


def test_anonymous_visitors_get_no_zip(app: flask.Flask):
    resp = app.test_client().get(ADDON_URL)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert resp.mimetype != "application/zip"


def test_settings_page_links_the_download(alice: flask.testing.FlaskClient):
    page = alice.get("/settings/").get_data(as_text=True)
    assert f'href="{ADDON_URL}"' in page
