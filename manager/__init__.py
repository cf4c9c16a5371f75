"""Flamenco Manager: hands the Server's tasks to the workers of one farm.

Two halves share one MongoDB database (see ``db.py``): the worker-facing HTTP
API (``api/``, ``dashboard/``), of which several processes may run at once,
and the sync daemon (``sync.py``) that talks to the Server.
"""

__version__ = "3.0.0.dev0"
