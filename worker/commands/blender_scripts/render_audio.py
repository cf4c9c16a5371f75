"""Inside Blender: mix the scene's sound down to a FLAC file.

Arguments after ``--``: ``--output PATH [--frame-start N] [--frame-end N]``.
"""
import argparse
import sys

import bpy

MIXDOWN_ACCURACY = 128
"""Samples per mixdown step (Flamenco 2's value)."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="render_audio")
    parser.add_argument("--output", required=True)
    parser.add_argument("--frame-start", type=int)
    parser.add_argument("--frame-end", type=int)
    return parser.parse_args(sys.argv[sys.argv.index("--") + 1:])


def main() -> None:
    args = parse_args()
    scene = bpy.context.scene
    if args.frame_start is not None:
        scene.frame_start = args.frame_start
    if args.frame_end is not None:
        scene.frame_end = args.frame_end
    bpy.ops.sound.mixdown(filepath=args.output, codec="FLAC", container="FLAC", accuracy=MIXDOWN_ACCURACY)


main()
