"""Jobs: submission, compilation into tasks, deletion and PATCH operations."""
