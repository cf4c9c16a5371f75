"""JSON field names of the Flamenco 2 wire protocol that more than one tier writes or reads.

A field named by both ends of a connection (worker and manager, manager and
server) is named here once, so the two ends cannot spell it differently.
Names only one tier uses stay where they are used. The documents themselves
are described in the reference: v2-manager-worker.md A.2.6 (worker API),
v2-server.md §6.4 (task-update-batch).
"""
from __future__ import annotations

# --- TaskUpdate: worker -> manager (POST /tasks/<id>/update) and manager -> server (task-update-batch)

TASK_STATUS = "task_status"  # a flamenco_protocol.statuses.TaskStatus; absent = unchanged
ACTIVITY = "activity"        # what the task is doing, one line for humans
LOG = "log"                  # new log lines (the worker's, forwarded upstream as they came)
LOG_TAIL = "log_tail"        # manager -> server: the last lines, what the task document shows
METRICS = "metrics"          # {TIMING: {step name: seconds}}
TIMING = "timing"
TASK_PROGRESS_PERCENTAGE = "task_progress_percentage"
COMMAND_PROGRESS_PERCENTAGE = "command_progress_percentage"
# The index of the running command has two names: Flamenco 2 workers send
# ``current_command_idx``, the server's task field is ``current_command_index``
# (reference C.3); the manager accepts both and forwards the server's.
CURRENT_COMMAND_IDX = "current_command_idx"
CURRENT_COMMAND_INDEX = "current_command_index"
WORKER = "worker"                            # set by the manager: the worker's identifier
RECEIVED_ON_MANAGER = "received_on_manager"  # set by the manager: RFC 3339 with nanoseconds
FAILED_BY_WORKERS = "failed_by_workers"      # set by the manager: [{"id", "identifier"}]

# --- Registration (POST /register-worker) and sign-on (POST /sign-on)

SECRET = "secret"
PLATFORM = "platform"  # linux, windows or darwin: the names path variables use
SUPPORTED_TASK_TYPES = "supported_task_types"
NICKNAME = "nickname"
# Optional capabilities that jobs with requirements look for (an extension, issue 15).
TAGS = "tags"
RESOURCES = "resources"

# --- Status changes and may-i-run (GET /task 423, GET /status-change, GET /may-i-run/<id>)

STATUS_REQUESTED = "status_requested"  # a flamenco_protocol.statuses.WorkerStatus
MAY_KEEP_RUNNING = "may_keep_running"
REASON = "reason"                      # why may_keep_running is false

# --- POST /output-produced

PATHS = "paths"

# --- The server's answer to task-update-batch (reference v2-server §6.4)

HANDLED_UPDATE_IDS = "handled_update_ids"          # the manager drops these from its queue
CANCEL_TASK_IDS = "cancel_task_ids"                # the manager's tasks the server wants stopped
UPLOAD_TASK_FILE_QUEUE = "upload_task_file_queue"  # [{"job", "task"}] whose logs the server wants
