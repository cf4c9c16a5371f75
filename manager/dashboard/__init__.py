"""The Manager's own small dashboard: workers, queue size, worker actions, task logs."""
