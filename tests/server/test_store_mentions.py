"""Domain code names store properties, not the store product: a static check over the server package.

Only the store layer (``flamenco/store/``, whose docstring lists what the
store costs) and the farm tooling that starts the local store
(``flamenco/farm/``) may name FerretDB. Everywhere else a comment points at the
store property (``flamenco.store``: costs), so the code reads the same on
MongoDB. A check of the source text, comments and docstrings included.
"""
from __future__ import annotations

from pathlib import Path

import flamenco

PACKAGE = Path(flamenco.__file__).resolve().parent
# Sub-packages that may name the store product, and why.
ALLOWED_PACKAGES = (
    "farm",  # starts and builds the local store
    "store",  # the store layer: owns every store-specific fact
)
PRODUCT = "ferretdb"


def store_mentions(package: Path) -> list[str]:
    """``module:line: text`` of every line naming the store product, outside the allowed sub-packages."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package)
        if module.parts[0] in ALLOWED_PACKAGES:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if PRODUCT in line.lower():
                found.append(f"flamenco/{module.as_posix()}:{number}: {line.strip()}")
    return found


def test_domain_code_does_not_name_the_store_product():
    mentions = store_mentions(PACKAGE)
    assert not mentions, ("name the store property and point at flamenco.store (its docstring's "
                          "'What the store costs') instead of the store product:\n" + "\n".join(mentions))
