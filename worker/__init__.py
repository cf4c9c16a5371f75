"""The Flamenco worker: fetches tasks from a manager, runs their commands, reports back.

Installed as the import package ``flamenco_worker`` with the console script
``flamenco-worker``; it depends only on the standard library, httpx, psutil,
pyyaml and click, so a render node needs nothing of the server or manager.
"""

__version__ = "3.0.0.dev0"
