"""``flamenco submit ...`` and ``flamenco jobs ...``: submit and follow jobs from a terminal.

``flamenco.cli`` imports this module and adds :data:`commands` to the
``flamenco`` group. Every command talks to the server through
:class:`flamenco.client.FlamencoClient`; every failure is printed as one clear
message (``Error: ...``) with exit status 1, never as a traceback.

Machine-readable output: ``submit`` prints the new job's id alone on stdout
(messages go to stderr), ``jobs list``/``jobs show`` take ``--json``.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import click
from tqdm import tqdm

from flamenco.client import defaults
from flamenco.client.api import FlamencoClient, TaskSummary, choose
from flamenco.client.errors import FlamencoClientError, InvalidInput
from flamenco.client.jobs import (FILE_EXTENSIONS, BlenderRenderJob, check_frames, check_job_id,
                                  check_render_output, check_tag)
from flamenco.frame_ranges import MAX_FRAME_COUNT
from flamenco_protocol import requirements
from flamenco_protocol.statuses import JobStatus

# Exit status of `jobs watch` / `submit --watch` when the job ends other than completed.
EXIT_JOB_NOT_COMPLETED = 2
# Progress bar: tasks done of all tasks and the job's status; no rate, since
# tasks finish in bursts between polls and a rate would mislead.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} tasks [{elapsed}{postfix}]"
# Worker task type that encodes videos (reference §4.5: create-video needs a Manager reporting it).
VIDEO_TASK_TYPE = "video-encoding"


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Turn client errors into ``Error: <message>`` and exit status 1."""
    try:
        yield
    except (FlamencoClientError, TimeoutError) as ex:
        raise click.ClickException(str(ex)) from None


def connection_options(func: Callable) -> Callable:
    """``--server``/``--token`` (or FLAMENCO_SERVER/FLAMENCO_TOKEN); passes ``client`` instead."""

    @click.option("--server", envvar=defaults.ENV_SERVER, default=defaults.SERVER_URL, show_default=True,
                  metavar="URL", help=f"Flamenco server URL [env {defaults.ENV_SERVER}].")
    @click.option("--token", envvar=defaults.ENV_TOKEN, default="", show_default=False, metavar="TOKEN",
                  help=f"API token (from `flamenco create-token USER`) [env {defaults.ENV_TOKEN}].")
    @functools.wraps(func)
    def wrapper(server: str, token: str, **kwargs: Any) -> Any:
        if not token:
            raise click.UsageError(f"no API token: pass --token or set {defaults.ENV_TOKEN} "
                                   "(an administrator creates one with `flamenco create-token USER`)")
        with clear_errors():
            with FlamencoClient(server, token) as client:
                return func(client=client, **kwargs)

    return wrapper


def target_options(func: Callable) -> Callable:
    """``--project``/``--manager`` (or FLAMENCO_PROJECT/FLAMENCO_MANAGER)."""
    func = click.option("--manager", envvar=defaults.ENV_MANAGER, default=None, metavar="ID|NAME",
                        help=f"Manager to run the job [env {defaults.ENV_MANAGER}; "
                             "default: the project's only Manager].")(func)
    return click.option("--project", envvar=defaults.ENV_PROJECT, default=None, metavar="ID|URL|NAME",
                        help=f"Project to submit to [env {defaults.ENV_PROJECT}; default: your only project].")(func)


def checked_by(check: Callable[[str], object]) -> Callable[[click.Context, click.Parameter, str], str]:
    """A click callback that runs ``check`` on the value, so a refusal names the option
    (``Invalid value for '--frames': ...``) before anything is sent."""

    def callback(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
        try:
            check(value)
        except InvalidInput as ex:
            raise click.BadParameter(ex.reason) from None
        return value

    return callback


def checked_each_by(check: Callable[[str], object]) -> Callable[[click.Context, click.Parameter, tuple[str, ...]],
                                                                  tuple[str, ...]]:
    """:func:`checked_by` for a repeatable option: every value is checked."""
    one = checked_by(check)

    def callback(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(one(ctx, param, value) for value in values)

    return callback


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def requirement_options(func: Callable) -> Callable:
    """``--require-tag``, ``--min-cores``, ``--min-ram``, ``--gpu``, ``--min-gpu-memory``: what a worker needs
    to run the job (issue 15); passes them as one ``required`` dict."""

    @click.option("--require-tag", "require_tags", multiple=True, callback=checked_each_by(check_tag), metavar="TAG",
                  help="Run only on workers with this tag (e.g. gpu); repeatable, all are needed.")
    @click.option("--min-cores", type=click.IntRange(1, requirements.MAX_CPU_CORES), default=None, metavar="N",
                  help="Run only on workers with at least N CPU cores.")
    @click.option("--min-ram", type=click.FloatRange(0, requirements.MAX_RAM_GB, min_open=True), default=None,
                  metavar="GB", help="Run only on workers with at least this much RAM (decimal GB).")
    @click.option("--gpu", is_flag=True, help="Run only on workers with an (NVIDIA) GPU.")
    @click.option("--min-gpu-memory", type=click.FloatRange(0, requirements.MAX_GPU_MEMORY_GB, min_open=True),
                  default=None, metavar="GB", help="Run only on workers with a GPU with this much memory (GB).")
    @functools.wraps(func)
    def wrapper(require_tags: tuple[str, ...], min_cores: int | None, min_ram: float | None, gpu: bool,
                min_gpu_memory: float | None, **kwargs: Any) -> Any:
        given = {"tags": list(require_tags), "min_cpu_cores": min_cores, "min_ram_gb": min_ram, "gpu": gpu,
                 "min_gpu_memory_gb": min_gpu_memory}
        return func(required={k: v for k, v in given.items() if v}, **kwargs)

    return wrapper


# -- flamenco submit ---------------------------------------------------------

@click.group()
def submit() -> None:
    """Submit a job to a Flamenco server."""


@submit.command("blender-render")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--frames", required=True, callback=checked_by(check_frames), metavar="RANGE",
              help=f"Frames to render, e.g. 1-12, 1,3-5,8 or 1..12; at most {MAX_FRAME_COUNT} frames.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=defaults.CHUNK_SIZE, show_default=True,
              help="Frames per render task.")
@click.option("--output", "render_output", required=True, callback=checked_by(check_render_output), metavar="PATH",
              help="Render output: absolute directory and file name pattern as workers see it, with '#' for "
                   "the frame number, e.g. /render/shot/frames-######.")
@click.option("--format", "image_format", type=click.Choice(list(FILE_EXTENSIONS), case_sensitive=False),
              default=defaults.IMAGE_FORMAT, show_default=True, metavar="FORMAT",
              help=f"Blender image format of the frames: {', '.join(FILE_EXTENSIONS)}.")
@click.option("--video", is_flag=True, help="Also encode the frames into a video (needs a video-encoding worker).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=defaults.FPS, show_default=True,
              help="Frame rate of the --video.")
@click.option("--name", default="", help="Job name [default: the file's name without .blend].")
@click.option("--priority", type=click.IntRange(defaults.PRIORITY_MIN, defaults.PRIORITY_MAX),
              default=defaults.PRIORITY, show_default=True, help="Higher runs first.")
@click.option("--paused", is_flag=True, help="Create the job paused; requeue it to start.")
@click.option("--after", "after", multiple=True, callback=checked_each_by(check_job_id), metavar="JOB_ID",
              help="Run only after this job (of the same project) completed; repeatable. The job waits "
                   "with status waiting-for-jobs until then.")
@click.option("--on-dependency-failure", type=click.Choice(list(defaults.DEPENDENCY_FAILURE_POLICIES)),
              default=defaults.ON_DEPENDENCY_FAILURE, show_default=True,
              help="When a job given with --after fails or is canceled: fail this job too, or keep it "
                   "waiting until that job is requeued and completes.")
@click.option("--watch", is_flag=True, help="Follow the job's progress until it ends.")
@click.option("--interval", type=click.FloatRange(min=0), default=defaults.WATCH_INTERVAL, show_default=True,
              help="Seconds between progress polls with --watch.")
@requirement_options
@target_options
@connection_options
def blender_render(client: FlamencoClient, file: Path, frames: str, chunk_size: int, render_output: str,
                   image_format: str, video: bool, fps: float, name: str, priority: int, paused: bool,
                   after: tuple[str, ...], on_dependency_failure: str,
                   watch: bool, interval: float, project: str | None, manager: str | None,
                   required: dict[str, Any]) -> None:
    """Render FILE (a .blend on storage the workers share) as a blender-render job.

    Prints the job id on stdout. Example:

    \b
        flamenco submit blender-render /shared/shot.blend --frames 1-12 --chunk-size 4 \\
          --output /shared/render/shot/frames-###### --video --fps 24
    """
    job = BlenderRenderJob(filepath=os.path.abspath(file), frames=frames, render_output=render_output,
                           chunk_size=chunk_size, image_format=image_format.upper(), create_video=video,
                           fps=fps, name=name, priority=priority, start_paused=paused,
                           depends_on=after, on_dependency_failure=on_dependency_failure, requirements=required)
    job.validate()
    target = client.resolve_target(project, manager)
    if video and VIDEO_TASK_TYPE not in target.manager_task_types:
        echo_err(f"Warning: manager {target.manager_name!r} has not reported a worker for "
                 f"{VIDEO_TASK_TYPE!r} tasks; the server adds the video step only when it has one.")
    created = client.submit_blender_render(job, target)
    waiting = f" ({created.get('status_reason', '')})" if created["status"] == JobStatus.WAITING_FOR_JOBS else ""
    echo_err(f"Submitted job {created['_id']} {created['name']!r} to project {target.project_name!r}, "
             f"manager {target.manager_name!r}: {created['status']}{waiting}")
    click.echo(created["_id"])
    if created["status"] == JobStatus.CONSTRUCTION_FAILED:
        raise click.ClickException(f"the server could not compile the job: {created.get('status_reason', '')}")
    if watch:
        follow(client, created["_id"], interval, timeout=None)


# -- flamenco jobs -----------------------------------------------------------

@click.group()
def jobs() -> None:
    """List, inspect, follow, cancel and requeue jobs."""


@jobs.command("list")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="Only jobs with this status; repeatable (e.g. --status active --status queued).")
@click.option("--project", envvar=defaults.ENV_PROJECT, default=None, metavar="ID|URL|NAME",
              help=f"Only jobs of this project [env {defaults.ENV_PROJECT}].")
@click.option("--limit", type=click.IntRange(1, defaults.PAGE_SIZE), default=defaults.LIST_LIMIT,
              show_default=True, help="Jobs per page.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True, help="Page of --limit jobs to show.")
@click.option("--sort", default=defaults.JOB_SORT, show_default=True,
              help="Fields to sort by, comma-separated, e.g. -priority,name (a leading - sorts descending).")
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as a JSON list.")
@connection_options
def list_jobs(client: FlamencoClient, statuses: tuple[str, ...], project: str | None, limit: int, page: int,
              sort: str, as_json: bool) -> None:
    """List the jobs you may see, newest first."""
    where: dict[str, Any] = {}
    if statuses:
        where["status"] = {"$in": list(statuses)}
    if project:
        where["project"] = choose("project", project, client.list_projects(), ("_id", "url", "name"))["_id"]
    result = client.list_jobs(where=where, sort=sort, page=page, max_results=limit)
    if as_json:
        click.echo(json.dumps(result.items, indent=2, sort_keys=True))
        return
    if not result.items:
        echo_err("No jobs.")
        return
    click.echo(f"{'ID':24}  {'STATUS':19}  {'PRIO':>4}  {'TYPE':16}  {'CREATED':29}  NAME")
    for job in result.items:
        click.echo(f"{job['_id']:24}  {job.get('status', ''):19}  {job.get('priority', ''):>4}  "
                   f"{job.get('job_type', ''):16}  {job.get('_created', ''):29}  {job.get('name', '')}")
    if len(result.items) == result.max_results:
        echo_err(f"(more may follow: --page {page + 1})")


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job and its task counts as JSON.")
@connection_options
def show_job(client: FlamencoClient, job_id: str, as_json: bool) -> None:
    """Show a job: status, settings and task counts."""
    job = client.get_job(job_id)
    summary = client.job_task_summary(job_id)
    if as_json:
        click.echo(json.dumps({"job": job, "task_counts": dict(summary.counts)}, indent=2, sort_keys=True))
        return
    for key in ("_id", "name", "job_type", "status", "status_reason", "priority", "project", "manager",
                "user", "_created", "_updated"):
        if key in job:
            click.echo(f"{key.lstrip('_'):14} {job[key]}")
    if job.get("requirements"):
        click.echo(f"{'requires':14} {requirements.describe(job['requirements'])}")
    if job.get("depends_on"):
        click.echo(f"{'after':14} {', '.join(job['depends_on'])} "
                   f"(on failure: {job.get('on_dependency_failure', defaults.ON_DEPENDENCY_FAILURE)})")
    click.echo("settings:")
    for key, value in sorted((job.get("settings") or {}).items()):
        click.echo(f"  {key:22} {value}")
    click.echo(f"tasks:         {summary.total} ({summary.describe()})")


@jobs.command("watch")
@click.argument("job_id")
@click.option("--interval", type=click.FloatRange(min=0), default=defaults.WATCH_INTERVAL, show_default=True,
              help="Seconds between polls.")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="Give up after this many seconds [default: never].")
@connection_options
def watch_job(client: FlamencoClient, job_id: str, interval: float, timeout: float | None) -> None:
    """Follow a job with a progress bar until it ends.

    Exit status 0 when the job completed, 2 when it ended otherwise
    (failed, canceled, paused, ...).
    """
    follow(client, job_id, interval, timeout)


@jobs.command("cancel")
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...")
@connection_options
def cancel_jobs(client: FlamencoClient, job_ids: tuple[str, ...]) -> None:
    """Cancel jobs; running tasks stop once their Manager confirms."""
    for job_id in job_ids:
        job = client.cancel_job(job_id)
        click.echo(f"{job_id}: {job['status']}")


@jobs.command("requeue")
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...")
@connection_options
def requeue_jobs(client: FlamencoClient, job_ids: tuple[str, ...]) -> None:
    """Requeue jobs: a completed, canceled, failed or paused job runs again
    (its completed tasks too, if it completed); a queued or active job gets
    its failed tasks requeued."""
    for job_id in job_ids:
        op, job = client.requeue_job(job_id)
        click.echo(f"{job_id}: {op}; now {job['status']}")


def follow(client: FlamencoClient, job_id: str, interval: float, timeout: float | None) -> None:
    """Show a tqdm bar of completed tasks until the job ends; exit 2 unless it completed."""
    polls = client.watch_job(job_id, interval=interval, timeout=timeout)
    last = next(polls)  # before drawing a bar: a bad id or token fails here
    with tqdm(total=last.tasks.total, unit="task", file=sys.stderr, dynamic_ncols=True,
              bar_format=BAR_FORMAT) as bar:
        update_bar(bar, last.job, last.tasks)
        for last in polls:
            update_bar(bar, last.job, last.tasks)
    status = last.job["status"]
    if status == JobStatus.COMPLETED:
        echo_err(f"Job {job_id} completed")
        return
    # A status reason outlives later changes (reference §2.2), so it is shown only here.
    reason = f": {last.job['status_reason']}" if last.job.get("status_reason") else ""
    echo_err(f"Job {job_id} {status}{reason}")
    sys.exit(EXIT_JOB_NOT_COMPLETED)


def update_bar(bar: tqdm, job: dict, tasks: TaskSummary) -> None:
    bar.set_description_str(f"{job.get('name', job['_id'])} [{job['status']}]", refresh=False)
    bar.total = tasks.total
    bar.n = tasks.completed
    bar.set_postfix_str(tasks.describe(), refresh=False)
    bar.refresh()


# Added to the `flamenco` group by flamenco.cli.load_command_modules().
commands = [submit, jobs]
