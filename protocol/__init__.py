"""The vocabulary of the Flamenco 2 wire protocol, shared by the server, the manager and the worker.

Imported as ``flamenco_protocol`` (from ``protocol/``). It is part of the base
install, which is the worker alone, so it imports nothing but the standard
library: never ``flamenco`` or ``flamenco_manager``.

- :mod:`flamenco_protocol.statuses`: task, job and worker statuses as
  ``StrEnum`` members, and the groups of them the protocol names.
- :mod:`flamenco_protocol.wire`: JSON field names that more than one tier
  reads or writes.
- :mod:`flamenco_protocol.requirements`: what a job may require of workers
  (tags, minimum resources) and whether a worker meets it; the server checks
  jobs with it, the Manager's scheduler workers, the client its options.
- :mod:`flamenco_protocol.openapi`: the building blocks of the server's and
  the Manager's OpenAPI descriptions (paths, parameters, the error body).
"""
