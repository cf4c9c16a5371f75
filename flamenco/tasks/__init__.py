"""Tasks: read over Eve, changed by PATCH operations and the Manager API."""
