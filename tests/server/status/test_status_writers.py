"""Only :mod:`flamenco.status` writes a ``status`` field: a static check over the server package.

Every store write call in ``flamenco/`` is read from the source: the update
document of ``update_one``/``update_many``/``UpdateOne``/... and the document of
an insert. A ``"status"`` key anywhere in it (in a dict literal, or in a
variable of the same function built as one or given one with
``name["status"] = ...``) is a status write. Filters (``{"status": old}``) are
not writes and are not looked at. A check of the source, not of what runs: a
document built in another function escapes it.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import flamenco

PACKAGE = Path(flamenco.__file__).resolve().parent
RULES_MODULE = "status.py"
STATUS_KEY = "status"

# Store calls that write a document, and where that document is: (positional index, keyword).
WRITE_CALLS = {
    "update_one": (1, "update"), "update_many": (1, "update"), "find_one_and_update": (1, "update"),
    "UpdateOne": (1, "update"), "UpdateMany": (1, "update"),
    "replace_one": (1, "replacement"), "find_one_and_replace": (1, "replacement"), "ReplaceOne": (1, "replacement"),
    "insert_one": (0, "document"), "insert_many": (0, "documents"), "InsertOne": (0, "document"),
}

# (module below flamenco/, function) -> why it may write a status outside the rules.
ALLOWED = {
    ("jobs/construction.py", "submit_job"):
        "creates a job: job creation inserts the new job with its initial status (under-construction or "
        "waiting-for-files); no existing status changes",
    ("jobs/rna_overrides.py", "_create_rna_overrides_task"):
        "creates a task: a new document is inserted with its initial status (queued), as construction inserts "
        "a job's tasks in their final status; no existing status changes",
}


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _written_document(call: ast.Call) -> ast.expr | None:
    """The document argument of a store write call, or None for any other call."""
    where = WRITE_CALLS.get(_call_name(call))
    if where is None:
        return None
    index, keyword = where
    if len(call.args) > index:
        return call.args[index]
    return next((kw.value for kw in call.keywords if kw.arg == keyword), None)


def _is_status(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == STATUS_KEY


def _local_definitions(function: ast.AST, name: str) -> Iterator[ast.AST]:
    """What the function assigns to ``name``, and its ``name[...] = ...`` statements."""
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    yield node.value
                elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                        and target.value.id == name:
                    yield target
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name \
                and node.value is not None:
            yield node.value


def _sets_status(function: ast.AST, node: ast.AST, seen: set[str]) -> bool:
    """Whether ``node`` (a written document or part of one) carries a ``status`` key.

    Follows what can be part of a document: dict literals and their spreads,
    call arguments (``stamp(now, fields)``) and the function's variables; not
    values read from elsewhere (``job["status"]``, ``state.fields``).
    """
    if isinstance(node, ast.Dict) and any(_is_status(key) for key in node.keys):
        return True
    if isinstance(node, ast.Subscript):
        return isinstance(node.ctx, ast.Store) and _is_status(node.slice)
    if isinstance(node, ast.Attribute):
        return False
    if isinstance(node, ast.Call):
        parts = [*node.args, *(kw.value for kw in node.keywords)]
        return any(_sets_status(function, part, seen) for part in parts)
    if isinstance(node, ast.Name):
        if node.id in seen:
            return False
        seen.add(node.id)
        return any(_sets_status(function, value, seen) for value in _local_definitions(function, node.id))
    return any(_sets_status(function, child, seen) for child in ast.iter_child_nodes(node))


def _writing_functions(tree: ast.AST) -> set[str]:
    """Names of the functions in ``tree`` with a store write that carries a ``status`` key."""
    found = set()
    for function in _functions(tree):
        for call in ast.walk(function):
            document = _written_document(call) if isinstance(call, ast.Call) else None
            if document is not None and _sets_status(function, document, set()):
                found.add(function.name)
    return found


def status_writers(package: Path) -> set[tuple[str, str]]:
    """(module, function) of every store write that carries a ``status`` key, outside the rules module."""
    found = set()
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        if module != RULES_MODULE:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found |= {(module, name) for name in _writing_functions(tree)}
    return found


def test_only_the_status_rules_write_a_status():
    unexpected = status_writers(PACKAGE) - set(ALLOWED)
    assert not unexpected, ("these functions write a status field; make them call a rule of flamenco/status.py "
                            f"(or allow-list them with a reason): {sorted(unexpected)}")


def test_every_allowed_writer_still_writes_a_status():
    """An entry that matches nothing any more would silently allow a new writer of that name."""
    assert set(ALLOWED) <= status_writers(PACKAGE)


def test_the_check_sees_the_rules_write_statuses():
    """The same check over the rules module finds its writers: it reads real code, not only the examples below."""
    tree = ast.parse((PACKAGE / RULES_MODULE).read_text(encoding="utf-8"))
    assert {"_write_job_status", "set_task_status", "requeue_task", "start_construction", "finish_construction",
            "mark_tasks_claimed", "_report_statement"} <= _writing_functions(tree)


def test_the_check_sees_the_ways_a_status_is_written():
    source = '''
def literal(db):
    db.tasks.update_one({"_id": 1}, {"$set": {"status": "queued"}})
def built(db):
    fields = {"activity": "x"}
    fields["status"] = "active"
    db.tasks.bulk_write([UpdateOne({"_id": 1}, {"$set": fields})])
def wrapped(db, now):
    fields: dict = {"status": "queued"}
    db.jobs.update_one({"_id": 1}, merge({"$set": stamp(now, fields)}, other()))
def filter_only(db):
    db.jobs.update_one({"_id": 1, "status": "queued"}, {"$set": {"priority": 1}})
def status_read_not_written(db, job):
    db.jobs.update_one({"_id": 1}, {"$set": {"pre_archive_status": job["status"]}})
    job["status"] = "archiving"
def insert(db):
    db.tasks.insert_one({"name": "x", "status": "queued"})
'''
    assert _writing_functions(ast.parse(source)) == {"literal", "built", "wrapped", "insert"}
