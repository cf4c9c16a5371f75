"""Run schemathesis on one operation at a time, as its own pytest test.

Schemathesis's lazy pytest loader (``from_fixture``) runs every operation
as subtests of one test and breaks on pytest 9 (it writes ``Node._nodeid``).
Here each operation is a pytest parameter instead, so a known failure can
be marked ``xfail`` with a reason naming it; a catch-all test fuzzes any
operation the live description has that the list does not name.
"""
from __future__ import annotations

from typing import Callable, Iterable

import hypothesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

# No 500s; only documented status codes and content types; bodies as described.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation: enough to hit each field's edge cases (empty,
# huge, wrong type) in valid and invalid requests, small enough that the
# whole fuzz suite runs in a few minutes on 2 cores.
MAX_EXAMPLES = 30

# (case, use real ids) -> None; raises when a check fails.
CaseRunner = Callable[[object, bool], None]


def labels(schema) -> list[str]:
    """``"METHOD /path"`` of every operation in a loaded schema."""
    return sorted(result.ok().label for result in schema.get_all_operations())


def fuzz_operation(schema, label: str, run_case: CaseRunner, max_examples: int = MAX_EXAMPLES) -> None:
    """Generate valid and invalid requests for ``label`` and run each through ``run_case``."""
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    cases = st.one_of([operation.as_strategy(generation_mode=mode) for mode in GenerationMode])

    @hypothesis.given(case=cases, real_ids=st.booleans())
    @hypothesis.settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def run(case, real_ids: bool) -> None:
        run_case(case, real_ids)

    run()


def fuzz_unlisted(schema, listed: Iterable[str], run_case: CaseRunner) -> list[str]:
    """Fuzz the operations not in ``listed``; return their labels."""
    extra = [label for label in labels(schema) if label not in set(listed)]
    for label in extra:
        fuzz_operation(schema, label, run_case)
    return extra
