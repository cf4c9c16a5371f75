"""Administration of the server's users, projects and Managers from the command line."""
