"""Every default of the Flamenco worker, in one place.

Values follow Flamenco Worker 2.x (reference B.9) unless a comment says why
they differ. Each one is also a key of the configuration file and of the
``FLAMENCO_WORKER_<KEY>`` environment variables (see :mod:`flamenco_worker.config`),
so tests and unusual farms can shorten or lengthen them.
"""
from __future__ import annotations

from pathlib import Path

from flamenco_worker.commands import defaults as command_defaults

CONFIG_SECTION = "flamenco-worker"
"""INI section Flamenco 2 workers use; keeping it lets old config files work."""

CONFIG_FILE = Path("flamenco-worker.cfg")
"""The config file read from the current directory (Flamenco 2's name)."""

CREDENTIALS_FILE = Path("~/.flamenco-worker.cfg")
"""Where registration writes ``worker_id`` and ``worker_secret``; read after the config file."""

ENV_PREFIX = "FLAMENCO_WORKER_"
"""Environment variables ``FLAMENCO_WORKER_<KEY>`` override every file."""

CONFIG_ERROR_EXIT_CODE = 47
"""Exit code for a missing or invalid configuration (Flamenco 2.0.3)."""

REGISTRATION_FAILED_EXIT_CODE = 1
"""Exit code when the manager refuses us; systemd restarts us with a possibly fixed config."""

TASK_TYPES = ("sleep", "blender-render", "file-management", "exr-merge", "video-encoding")
"""Task types announced at registration and sign-on (Flamenco 2.4's default)."""

TAGS: tuple[str, ...] = ()
"""Tags advertised at registration and sign-on (``tags = gpu big-ram``); jobs may require them. An admin's
tags, set on the server's Workers page, replace them on the manager until cleared."""

GPU_DETECT_TIMEOUT_SECONDS = 10.0
"""How long ``nvidia-smi`` may take to list the GPUs at start-up; a hung driver must not stop the worker."""

TEST_TASK_TYPES = ("test-blender-render",)
"""The only task type announced in ``--test`` mode (reference A.5.12)."""

TASK_UPDATE_QUEUE_DB = Path("flamenco-worker.db")
"""SQLite file of the outgoing update queue; copy it along when moving a worker."""

SECRET_LENGTH = 64
"""Length of the self-generated worker secret (Flamenco 2: 64 letters and digits)."""

REGISTRATION_TOKEN_LIFETIME_SECONDS = 15 * 60
"""Lifetime of the HS256 token sent to /register-worker when a PSK is configured."""

HTTP_TIMEOUT_SECONDS = 3.0
"""Timeout of ordinary manager calls (Flamenco 2)."""

TASK_FETCH_TIMEOUT_SECONDS = 30.0
"""Timeout of POST /task: the manager may re-check the task upstream under a lock,
so the 3 s of Flamenco 2 was too short (D.2.4)."""

REGISTER_RETRY_SECONDS = 30.0
"""Wait between registration / sign-on attempts while the manager is unreachable."""

FETCH_RETRY_AFTER_ERROR_SECONDS = 10.0
"""Wait before the next POST /task after a network error or unexpected answer."""

FETCH_RETRY_NO_TASK_SECONDS = 5.0
"""Wait before the next POST /task after a 204 (no task for us)."""

FETCH_AFTER_TASK_SECONDS = 3.0
"""Wait between finishing one task and fetching the next."""

ERROR_STATE_SECONDS = 600.0
"""Time spent in the ``error`` state before waking up again."""

UNCAUGHT_RETRY_SECONDS = 60.0
"""Wait after an unexpected error in the fetch loop before trying again (Flamenco 2.2.1)."""

ASLEEP_POLL_SECONDS = 30.0
"""Interval of GET /status-change while asleep."""

MAY_I_RUN_INTERVAL_SECONDS = 5.0
"""Interval of GET /may-i-run/<task> while a task runs."""

QUEUE_BACKPRESSURE_UPDATES = 10
"""No new task is fetched while more updates than this wait in the queue (Flamenco 2.2)."""

QUEUE_BACKPRESSURE_BYTES = 8 * 1024 * 1024
"""...or while the queued payloads exceed this many bytes: rows alone say little when
one update can carry thousands of log lines (D.2.3)."""

QUEUE_BACKPRESSURE_RECHECK_SECONDS = 10.0
"""Wait before re-checking a queue that is too full to fetch a task."""

QUEUE_BACKOFF_SECONDS = 5.0
"""Wait before retrying the queue's head after the manager failed to accept it."""

QUEUE_FLUSH_BATCH = 100
"""Rows read from SQLite at a time while flushing."""

PUSH_ACT_MAX_INTERVAL_SECONDS = 15.0
"""Activity/progress reaches the manager at most this often (unless the status changes)."""

PUSH_LOG_MAX_INTERVAL_SECONDS = 30.0
"""Log lines are pushed at least this often while they keep coming."""

PUSH_LOG_MAX_ENTRIES = 1000
"""...or as soon as more lines than this are waiting."""

OUTPUT_PRODUCED_INTERVAL_SECONDS = 30.0
"""POST /output-produced at most this often; paths produced meanwhile are sent together."""

SHUTDOWN_FLUSH_TIMEOUT_SECONDS = 10.0
"""At shutdown, the final queue flush and sign-off give up after this long."""

TERMINATE_GRACE_SECONDS = 5.0
"""Time a command's subprocess gets between SIGTERM and SIGKILL when a task is stopped."""

OOM_SCORE_ADJ = command_defaults.OOM_SCORE_ADJ
"""oom_score_adj of the commands' subprocesses, -1000..1000 (0: off); the why is in the commands' defaults."""

SSDP_MULTICAST_GROUP = "239.255.255.250"
"""IPv4 multicast group of UPnP/SSDP, where an empty ``manager_url`` is searched for."""

SSDP_SERVICE_TYPE = "urn:flamenco:manager:0"
"""The search target a Flamenco manager answers (Flamenco 2's service type)."""

SSDP_PORT = 1900
"""SSDP's UDP port; other values only make sense in tests."""

SSDP_ROUND_SECONDS = 1.0
"""Wait for answers after each M-SEARCH round (Flamenco 2: 1 s timeout)..."""

SSDP_ROUNDS = 5
"""...for this many rounds before giving up (Flamenco 2: 5)."""

SSDP_MULTICAST_TTL = 2
"""Router hops a search may cross (UPnP's recommended default); 0 keeps it on this host."""

DISCOVERY_FAILED_EXIT_CODE = 1
"""Exit code when no manager answered the SSDP search (Flamenco 2)."""
