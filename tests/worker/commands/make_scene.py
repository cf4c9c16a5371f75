"""Run by Blender (``blender -b --factory-startup --python make_scene.py -- OUT [SOUND]``).

Saves a tiny Cycles scene for the Blender command tests: CPU, 4 samples,
64x48, frames 1-3, no denoising (Debian's Blender lacks OpenImageDenoise).
With SOUND, the file also gets that sound as a sequencer strip.
"""
import sys

import bpy

args = sys.argv[sys.argv.index("--") + 1:]
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 4
scene.cycles.use_denoising = False
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 3
scene.render.image_settings.file_format = "PNG"
cube = bpy.data.objects["Cube"]
cube.keyframe_insert("location", frame=1)
cube.location.x += 1.5
cube.keyframe_insert("location", frame=3)
if len(args) > 1:
    scene.sequence_editor_create().sequences.new_sound("tone", args[1], channel=1, frame_start=1)
bpy.ops.wm.save_as_mainfile(filepath=args[0])
