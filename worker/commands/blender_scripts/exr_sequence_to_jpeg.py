"""Inside Blender: render JPEG previews of an EXR sequence into the EXRs' directory.

Arguments after ``--``: ``--exr-glob GLOB --output-pattern PATTERN``. Each EXR
becomes an image strip at the frame number taken from the trailing digits of
its name; the scene renders min..max to ``<EXR dir>/<PATTERN>``.
"""
import argparse
import glob
import re
import sys
from pathlib import Path

import bpy

JPEG_QUALITY = 90
"""Previews only: small files, good enough to judge a render (Flamenco 2's value)."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="exr_sequence_to_jpeg")
    parser.add_argument("--exr-glob", required=True)
    parser.add_argument("--output-pattern", required=True)
    return parser.parse_args(sys.argv[sys.argv.index("--") + 1:])


def frame_number(path: Path) -> int:
    match = re.search(r"(\d+)$", path.stem)
    if not match:
        raise ValueError(f"no frame number at the end of {path.name}")
    return int(match.group(1))


def main() -> None:
    args = parse_args()
    files = sorted(Path(p) for p in glob.glob(args.exr_glob))
    if not files:
        raise FileNotFoundError(f"no files match {args.exr_glob}")
    scene = bpy.data.scenes.new("exr_sequence_to_jpeg")
    editor = scene.sequence_editor_create()
    frames = []
    for path in files:
        frame = frame_number(path)
        frames.append(frame)
        editor.sequences.new_image(path.name, str(path), channel=1, frame_start=frame)
    image = bpy.data.images.load(str(files[0]))
    scene.render.resolution_x, scene.render.resolution_y = image.size
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = min(frames), max(frames)
    settings = scene.render.image_settings
    settings.file_format = "JPEG"
    settings.quality = JPEG_QUALITY
    scene.render.use_overwrite = True
    scene.render.filepath = str(files[0].parent / args.output_pattern)
    bpy.ops.render.render(animation=True, scene=scene.name)


main()
