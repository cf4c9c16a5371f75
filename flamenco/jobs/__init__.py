"""Jobs: submission, compilation into tasks, deletion and PATCH operations."""

JOBS = "flamenco_jobs"
TASKS = "flamenco_tasks"
TASK_LOGS = "flamenco_task_logs"
