"""Every default setting of the Manager, in one place.

Durations are in seconds. Keys match the Flamenco 2 ``flamenco-manager.yaml``
names (reference A.6.2) where those exist, so an old config file still loads.
A config file or ``FLAMENCO_MANAGER_<KEY>`` environment variable overrides any
of them (see ``config.py``).
"""
from __future__ import annotations

from flamenco_protocol.statuses import WorkerStatus

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR

DEFAULTS: dict[str, object] = {
    # Shown on the dashboard.
    "manager_name": "Flamenco Manager",
    # The manager's own database; never the Server's.
    "database_url": "mongodb://127.0.0.1:27017/flamanager",
    # Root of the task log files: {task_logs_path}/job-XXXX/<job>/task-<task>.txt
    "task_logs_path": "./task-logs",
    # Rotated logs kept per task (task-X.txt.1 .. .N); older ones are deleted
    # so that a task re-run many times cannot fill the disk.
    "task_log_max_rotations": 5,
    # host:port the worker API listens on.
    "listen": "0.0.0.0:8080",
    # URL the workers use to reach this manager; sent to the Server.
    "own_url": "http://localhost:8080/",
    # Answer UPnP/SSDP searches (M-SEARCH for urn:flamenco:manager:0) with
    # own_url, so workers with an empty manager_url find this manager.
    "ssdp_discovery": True,
    # The USN's device UUID; must differ per manager on one network. Empty =
    # a UUID derived from own_url (Flamenco 2 shipped one fixed UUID instead).
    "ssdp_device_uuid": "",
    # UDP port of the SSDP responder; 1900 is SSDP's, other values only for tests.
    "ssdp_port": 1900,
    # The Server's base URL and this manager's identity there.
    "flamenco": "http://localhost:5000/",
    "manager_id": "",
    "manager_secret": "",
    # Upstream HTTP timeouts: a hung Server must never stall a worker call
    # (the original had none, reference D.1.2).
    "upstream_connect_timeout": 5.0,
    "upstream_read_timeout": 30.0,
    # Periodic depsgraph download; a kick (no task for a worker, dashboard)
    # downloads sooner, at most once per recheck throttle (-1 = never kick).
    "download_task_sleep": 10 * MINUTE,
    "download_task_recheck_throttle": 10.0,
    # Push queued updates when this many are waiting, or when the oldest has
    # waited push_max_interval; also the batch size.
    "task_update_push_max_count": 3000,
    "task_update_push_max_interval": 5.0,
    # An empty push doubles as the poll for cancellations: a task cancelled
    # on the Server can still be handed to a worker for at most about this
    # long (plus one sync tick); the worker then stops it at its next
    # may-i-run. Flamenco 2 re-checked each task with a blocking GET instead.
    "cancel_task_fetch_max_interval": 5.0,
    # Back-off after a failed push doubles up to this (original: none, D.1.3).
    "push_backoff_max": 60.0,
    # A batch update the Server never acknowledges (e.g. for another manager's
    # task) is moved aside after this many pushes so it cannot block the queue.
    "push_max_unacknowledged": 10,
    # How often the sync daemon wakes up to look for work.
    "sync_tick_interval": 1.0,
    # Startup notification retry interval; update notification retry.
    "startup_notification_retry": 30.0,
    # The worker report to the Server (an update notification): sent when a
    # worker changed, but at most once per min interval, and at least once
    # per max interval while there are workers, so the Server's "last seen"
    # stays fresh (it shows a worker offline after 120 s of silence).
    "worker_report_min_interval": 3.0,
    "worker_report_max_interval": 30.0,
    # Timeouts; the worker timeout must be shorter than the task timeout so
    # that re-queueing wins over failing (reference A.5.7).
    "active_task_timeout_interval": 10 * MINUTE,
    "active_worker_timeout_interval": 1 * MINUTE,
    # Grace after start-up before the first timeout check, so workers can
    # reconnect after a manager restart; then every check interval.
    "timeout_check_grace": 5 * MINUTE,
    "timeout_check_interval": 1 * MINUTE,
    # Cached tasks untouched this long are dropped; the Server re-sends them
    # if they change.
    "task_cleanup_max_age": 14 * DAY,
    "task_cleanup_interval": 10 * MINUTE,
    # Auto-removal of workers in these statuses, not seen for this long (0 = off).
    "worker_cleanup_max_age": 0.0,
    "worker_cleanup_status": [WorkerStatus.OFFLINE.value],
    "worker_cleanup_interval": 30.0,
    # Failures of one worker on one (job, task type) before it is blocklisted.
    "blacklist_threshold": 3,
    # Blocklist entries expire after this long (the original used a TTL index).
    "blacklist_max_age": 7 * DAY,
    # Failing workers per task before it fails for good.
    "task_fail_after_softfail_count": 3,
    # A worker not seen for this long is not counted as "left to run a task"
    # when deciding soft-fail versus fail (the original counted every worker
    # ever registered, reference D.1.7).
    "worker_seen_max_age_for_failover": 1 * DAY,
    # Sleep schedules are evaluated this often.
    "sleep_schedule_interval": 1 * MINUTE,
    # Pre-shared secret for worker registration (HS256 JWT signed with it, as
    # Flamenco 2 workers send). Without one, registration is refused unless
    # worker_registration_open is true: anyone who can reach the manager
    # could otherwise register a worker and be handed real tasks.
    "worker_registration_secret": "",
    "worker_registration_open": False,
    # Programs a task may start (first word of exec's cmd, blender_cmd,
    # ffmpeg_cmd after variable expansion): the worker platform's values of the
    # blender and ffmpeg variables, plus these. A task naming another program
    # fails on the manager instead of reaching a worker. false = any program.
    "restrict_executables": True,
    "allowed_executables": [],
    # Blender runs a .blend file's own Python (drivers, rigs need it; Flamenco
    # 2 always did): a member's .blend then runs code on the render nodes.
    # false = workers get autoexec: false (--disable-autoexec); Flamenco 2
    # workers ignore that setting and keep running it.
    "blender_autoexec": True,
    # The last-rendered preview (flamenco_manager.last_rendered): a worker's
    # output-produced report waits this long, then the newest image reported
    # for that job meanwhile is shrunk to a JPEG: one conversion per job per interval.
    "last_rendered_interval": 5.0,
    # Dashboard and /metrics password (HTTP Basic, any user name). Empty = the
    # dashboard is refused (Flamenco 2's was open to anyone who could reach it).
    "dashboard_password": "",
    # Flamenco 2.0-2.4 two-way path variables ({name: {platform: value}}); merged
# into ``variables`` at load. New configs use ``variables`` only.
    "path_replacement": {},
    # Path variables: name -> {direction, values: [{platform(s), audience, value}]};
    # the v1 form {name: {platform: value}} is accepted too.
    "variables": {
        "blender": {
            "direction": "oneway",
            "values": [
                {"platform": "linux", "value": "/usr/bin/blender"},
                {"platform": "windows", "value": "C:/Program Files/Blender Foundation/Blender/blender.exe"},
                {"platform": "darwin", "value": "/Applications/Blender.app/Contents/MacOS/Blender"},
            ],
        },
        "ffmpeg": {
            "direction": "oneway",
            "values": [
                {"platform": "linux", "value": "/usr/bin/ffmpeg"},
                {"platform": "windows", "value": "C:/ffmpeg/ffmpeg.exe"},
                {"platform": "darwin", "value": "/usr/local/bin/ffmpeg"},
            ],
        },
        "job_storage": {
            "direction": "twoway",
            "values": [
                {"platform": "linux", "value": "/shared/flamenco/jobs"},
                {"platform": "windows", "value": "S:/flamenco/jobs"},
                {"platform": "darwin", "value": "/Volumes/shared/flamenco/jobs"},
            ],
        },
        "render": {
            "direction": "twoway",
            "values": [
                {"platform": "linux", "value": "/shared/flamenco/render"},
                {"platform": "windows", "value": "S:/flamenco/render"},
                {"platform": "darwin", "value": "/Volumes/shared/flamenco/render"},
            ],
        },
    },
}

# SSDP (UPnP discovery): the IPv4 multicast group of the UPnP device
# architecture, the service type Flamenco 2 advertises, and how long an answer
# may be cached (Flamenco 2's MaxAge).
SSDP_MULTICAST_GROUP = "239.255.255.250"
SSDP_SERVICE_TYPE = "urn:flamenco:manager:0"
SSDP_MAX_AGE_SECONDS = 3600

# Name of the config file read from the working directory when none is given.
CONFIG_FILENAME = "flamenco-manager.yaml"
# Prefix of the environment variables that override settings.
ENV_PREFIX = "FLAMENCO_MANAGER_"
