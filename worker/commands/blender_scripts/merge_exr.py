"""Inside Blender: merge two progressive renders as their sample-weighted average.

Arguments after ``--``: ``--input1 A --input2 B --weight1 N --weight2 M
--output PATH`` and, for image sequences, ``--frame-start S --frame-end E``
(then the inputs are the first frames and PATH is a ``#`` pattern).

Flamenco 2 shipped a prepared ``merge-exr.blend``; building the compositor
tree here instead keeps a binary file out of the package. The result is
``(A * N + B * M) / (N + M)``, written as full-float EXR.
"""
import argparse
import sys
from typing import Any

import bpy


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="merge_exr")
    for name in ("--input1", "--input2", "--output"):
        parser.add_argument(name, required=True)
    for name in ("--weight1", "--weight2"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--frame-start", type=int)
    parser.add_argument("--frame-end", type=int)
    return parser.parse_args(sys.argv[sys.argv.index("--") + 1:])


def image_node(tree: Any, path: str, args: argparse.Namespace) -> Any:
    node = tree.nodes.new("CompositorNodeImage")
    node.image = bpy.data.images.load(path)
    if args.frame_start is not None:
        node.image.source = "SEQUENCE"
        node.frame_duration = args.frame_end - args.frame_start + 1
        node.frame_start = args.frame_start
        node.frame_offset = args.frame_start - 1
    return node


def main() -> None:
    args = parse_args()
    scene = bpy.context.scene
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()
    image1, image2 = image_node(tree, args.input1, args), image_node(tree, args.input2, args)
    mix = tree.nodes.new("CompositorNodeMixRGB")
    mix.blend_type = "MIX"
    mix.use_alpha = False
    mix.inputs[0].default_value = args.weight2 / (args.weight1 + args.weight2)
    composite = tree.nodes.new("CompositorNodeComposite")
    tree.links.new(image1.outputs["Image"], mix.inputs[1])
    tree.links.new(image2.outputs["Image"], mix.inputs[2])
    tree.links.new(mix.outputs["Image"], composite.inputs["Image"])

    render = scene.render
    render.engine = "CYCLES"
    render.resolution_x, render.resolution_y = image1.image.size
    render.resolution_percentage = 100
    render.use_file_extension = True
    render.image_settings.file_format = "OPEN_EXR"
    render.image_settings.color_depth = "32"
    render.filepath = args.output
    if args.frame_start is None:
        bpy.ops.render.render(write_still=True)
    else:
        scene.frame_start, scene.frame_end = args.frame_start, args.frame_end
        bpy.ops.render.render(animation=True)


main()
