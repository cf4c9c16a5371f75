"""Scripts that Blender runs (``blender --python <script> -- <args>``) for worker commands.

They import ``bpy`` and so only work inside Blender; the worker never imports
them. They live in a package so that a plain ``pip install`` ships them
(Flamenco 2's wheels lacked its resource files; D.2.16).
"""
