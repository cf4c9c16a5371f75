"""Flamenco submission add-on: render the open .blend file on a Flamenco farm.

Install ``addon/flamenco_submit`` as a Blender add-on (or put ``addon/`` on
``sys.path`` and enable ``flamenco_submit``). Set the server URL and an API
token in the add-on preferences (project and Manager too when you have more
than one), then press *Submit to Flamenco* in Output Properties, or call
``bpy.ops.flamenco.submit_job()`` from a script. The job's frames, output path,
image format and frame rate come from the scene; chunk size, video,
priority, the jobs to wait for ("After Jobs": job ids) and what a worker
needs to run it (required tags, minimum CPU cores, RAM, GPU) from the
Flamenco panel (``scene.flamenco``).

The file must be on storage the workers share: the job names its path.
"""
import bpy

from . import job as job_doc
from . import requirements as job_requirements
from .server import ServerAPI, SubmitError

bl_info = {
    "name": "Flamenco Submit",
    "author": "Flamenco developers",
    "version": (3, 0, 0),
    "blender": (3, 4, 0),
    "location": "Properties > Output > Flamenco",
    "description": "Submit the open file as a blender-render job to a Flamenco server",
    "category": "Render",
}

# Defaults shared with the CLI (flamenco/client/defaults.py): five frames per
# task amortise Blender's start-up on each worker; priority 50 of 1..100.
DEFAULT_CHUNK_SIZE = 5
DEFAULT_PRIORITY = 50
DEFAULT_SERVER_URL = "http://127.0.0.1:8080"


class FlamencoPreferences(bpy.types.AddonPreferences):
    """Where to submit: server, token, and optionally project and Manager."""

    bl_idname = __package__

    server_url: bpy.props.StringProperty(name="Server URL", default=DEFAULT_SERVER_URL)
    token: bpy.props.StringProperty(name="Token", subtype="PASSWORD",
                                    description="API token (an administrator creates one with "
                                                "`flamenco create-token USER`)")
    project: bpy.props.StringProperty(name="Project", description="Project id, URL or name; "
                                                                  "empty: your only project")
    manager: bpy.props.StringProperty(name="Manager", description="Manager id or name; "
                                                                  "empty: the project's only Manager")

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.use_property_split = True
        for prop in ("server_url", "token", "project", "manager"):
            self.layout.prop(self, prop)


class FlamencoJobSettings(bpy.types.PropertyGroup):
    """Per-scene job options, saved with the file."""

    job_name: bpy.props.StringProperty(name="Job Name", description="Empty: the file's name")
    chunk_size: bpy.props.IntProperty(name="Chunk Size", default=DEFAULT_CHUNK_SIZE, min=1,
                                      description="Frames per render task")
    create_video: bpy.props.BoolProperty(name="Create Video", default=False,
                                         description="Also encode the frames into a video at the scene's fps")
    priority: bpy.props.IntProperty(name="Priority", default=DEFAULT_PRIORITY, min=1, max=100,
                                    description="Higher runs first")
    after_jobs: bpy.props.StringProperty(name="After Jobs",
                                         description="Ids of jobs (comma-separated) that must complete before "
                                                     "this one runs; empty: start at once")
    on_dependency_failure: bpy.props.EnumProperty(
        name="If One Fails", default="fail",
        items=[("fail", "Fail Too", "Fail this job when a job it waits for fails or is canceled"),
               ("wait", "Keep Waiting", "Keep waiting until that job is requeued and completes")])
    # What a worker needs to run the job (issue 15); 0 or empty: any worker. No hard limits, so
    # a typed value out of range is refused with a message (job_requirements) rather than clamped.
    required_tags: bpy.props.StringProperty(
        name=job_requirements.LABELS["tags"],
        description="Run only on workers with all these tags (space- or comma-separated, e.g. 'gpu room-b')")
    min_cpu_cores: bpy.props.IntProperty(name=job_requirements.LABELS["min_cpu_cores"], default=0, soft_min=0,
                                         soft_max=job_requirements.MAX_CPU_CORES,
                                         description="Run only on workers with at least this many CPU cores; "
                                                     "0: any")
    min_ram_gb: bpy.props.FloatProperty(name=job_requirements.LABELS["min_ram_gb"], default=0.0, soft_min=0.0,
                                        soft_max=job_requirements.MAX_RAM_GB, precision=1,
                                        description="Run only on workers with at least this much RAM, in GB "
                                                    "(10^9 bytes); 0: any")
    gpu: bpy.props.BoolProperty(name=job_requirements.LABELS["gpu"], default=False,
                                description="Run only on workers with an (NVIDIA) GPU")
    min_gpu_memory_gb: bpy.props.FloatProperty(name=job_requirements.LABELS["min_gpu_memory_gb"], default=0.0,
                                               soft_min=0.0, soft_max=job_requirements.MAX_GPU_MEMORY_GB,
                                               precision=1,
                                               description="Run only on workers with a GPU with at least this "
                                                           "much memory, in GB; 0: any")


class FLAMENCO_OT_submit_job(bpy.types.Operator):
    """Save the file if needed and submit it as a blender-render job"""

    bl_idname = "flamenco.submit_job"
    bl_label = "Submit to Flamenco"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            created = submit(context)
        except SubmitError as ex:
            self.report({"ERROR"}, f"Flamenco: {ex}")
            return {"CANCELLED"}
        context.window_manager.flamenco_last_job_id = created["_id"]
        self.report({"INFO"}, f"Flamenco job {created['_id']} submitted: {created.get('status', '')}")
        return {"FINISHED"}


def submit(context: bpy.types.Context) -> dict:
    """Check the scene and the server settings, then save the file and POST the job; returns the stored job.

    Everything that can refuse the job (scene, preferences, token, project
    and Manager) is checked before saving, so a refused job leaves the
    artist's file on disk as it was.
    """
    if not bpy.data.filepath:
        raise SubmitError("save the file first: the farm renders it from disk")
    prefs = context.preferences.addons[__package__].preferences
    api = ServerAPI(prefs.server_url, prefs.token)
    document = job_document(context.scene, api, prefs.project, prefs.manager)
    # Blender running headless marks a file dirty only on undo pushes, which
    # scripts rarely make: save there too, so the farm renders what the script set up.
    if bpy.data.is_dirty or bpy.app.background:
        bpy.ops.wm.save_mainfile()
    return api.submit_job(document)


def job_document(scene: bpy.types.Scene, api: ServerAPI, project_name: str, manager_name: str) -> dict:
    """The job for ``scene``; raises :class:`SubmitError` for a scene or target the farm cannot take."""
    render = scene.render
    settings = scene.flamenco
    frames = job_doc.frame_range(scene.frame_start, scene.frame_end, scene.frame_step)
    output = job_doc.render_output(bpy.path.abspath(render.filepath))
    job_doc.check_image_format(render.image_settings.file_format, settings.create_video)
    depends_on = job_doc.job_ids(settings.after_jobs)
    required = job_requirements.parse(settings.required_tags, settings.min_cpu_cores, settings.min_ram_gb,
                                      settings.gpu, settings.min_gpu_memory_gb)
    project, manager = api.choose_target(project_name, manager_name)
    return job_doc.build_job(
        blend_path=bpy.path.abspath(bpy.data.filepath),
        name=settings.job_name,
        frames=frames,
        output=output,
        file_format=render.image_settings.file_format,
        file_extension=render.file_extension,
        fps=render.fps / render.fps_base,
        chunk_size=settings.chunk_size,
        create_video=settings.create_video,
        priority=settings.priority,
        project_id=project["_id"],
        manager_id=manager["_id"],
        depends_on=depends_on,
        on_dependency_failure=settings.on_dependency_failure,
        requirements=required,
    )


class FLAMENCO_PT_submit(bpy.types.Panel):
    """Job options and the submit button, next to the render output settings."""

    bl_label = "Flamenco"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        for prop in ("job_name", "chunk_size", "create_video", "priority", "after_jobs"):
            layout.prop(context.scene.flamenco, prop)
        if context.scene.flamenco.after_jobs.strip():
            layout.prop(context.scene.flamenco, "on_dependency_failure")
        layout.operator(FLAMENCO_OT_submit_job.bl_idname, icon="RENDER_ANIMATION")
        last = context.window_manager.flamenco_last_job_id
        if last:
            layout.label(text=f"Last job: {last}")


class FLAMENCO_PT_requirements(bpy.types.Panel):
    """What a worker needs to run the job, folded under the Flamenco panel: most jobs need nothing."""

    bl_label = "Worker Requirements"
    bl_parent_id = "FLAMENCO_PT_submit"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_options = {"DEFAULT_CLOSED"}
    PROPS = ("required_tags", "min_cpu_cores", "min_ram_gb", "gpu", "min_gpu_memory_gb")

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.use_property_split = True
        for prop in self.PROPS:
            self.layout.prop(context.scene.flamenco, prop)


CLASSES = (FlamencoPreferences, FlamencoJobSettings, FLAMENCO_OT_submit_job, FLAMENCO_PT_submit,
           FLAMENCO_PT_requirements)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.flamenco = bpy.props.PointerProperty(type=FlamencoJobSettings)
    bpy.types.WindowManager.flamenco_last_job_id = bpy.props.StringProperty(name="Last Flamenco Job")


def unregister() -> None:
    del bpy.types.WindowManager.flamenco_last_job_id
    del bpy.types.Scene.flamenco
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
