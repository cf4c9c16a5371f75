"""Tests of flamenco_worker.commands, with real subprocesses, Blender and FFmpeg."""
