"""The ``autoexec`` setting of the Blender commands picks Blender's autoexec flag."""
from __future__ import annotations

from flamenco_worker.commands.blender import autoexec_flag


def test_autoexec_on_by_default_and_off_when_the_manager_says_so() -> None:
    assert autoexec_flag({}) == "--enable-autoexec"
    assert autoexec_flag({"autoexec": True}) == "--enable-autoexec"
    assert autoexec_flag({"autoexec": False}) == "--disable-autoexec"
