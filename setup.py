"""Flamenco: server, manager and worker of a render-farm job distribution system.

The import names are ``flamenco`` (server), ``flamenco_manager`` (from
``manager/``), ``flamenco_worker`` (from ``worker/``) and ``flamenco_protocol``
(from ``protocol/``: the wire vocabulary all three share): generic names such
as ``manager`` must never land in site-packages.

The base install is the worker alone, with the protocol it speaks (a render
node needs nothing else); ``flamenco[manager]`` and ``flamenco[server]`` add
what those tiers need.
"""
from setuptools import find_packages, setup

WORKER_REQUIRES = [
    "httpx>=0.27",
    "psutil>=5.9",
    "pyyaml>=6",
    "click>=8.1",
]
MANAGER_REQUIRES = [
    # The worker API and dashboard: one asyncio event loop owns dispatch;
    # uvloop runs it (libuv) at a fraction of asyncio's own loop's cost per request.
    "aiohttp>=3.9",
    "uvloop>=0.19; sys_platform != 'win32'",
    "jinja2>=3.1",
    "pymongo>=4,<5",
    "bcrypt>=4",
    "pyjwt>=2.8",
    "requests>=2.31",
    "prometheus-client>=0.20",
    # The last-rendered preview: renders shrunk to a JPEG (flamenco_manager.last_rendered).
    "pillow>=10",
]
SERVER_REQUIRES = [
    "eve==2.3.1",
    "pymongo>=4,<5",
    "celery[redis]>=5.3",
    "redis>=5",
    # C reply parser for redis-py: the job list reads 10,000-row hashes.
    "hiredis>=3",
    "flask>=3.0",
    # flamenco.openapi reads Flask's URL rules (the Manager's description needs none).
    "werkzeug>=3.0",
    "flask-login>=0.6",
    "flask-wtf>=1.2",
    "bcrypt>=4",
    "pyjwt>=2.8",
    "requests>=2.31",
    "prometheus-client>=0.20",
    "python-dateutil>=2.8",
    "waitress>=3",
    "tqdm>=4.66",
    "cryptography>=42",
]
# The submission client and `flamenco submit` (a workstation needs only these).
CLIENT_REQUIRES = [
    "requests>=2.31",
    "tqdm>=4.66",
]
TEST_REQUIRES = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "schemathesis>=4",
    "playwright>=1.45",
    "openapi-spec-validator>=0.7",
    "mypy>=1.10",
    "aiosmtpd>=1.4",
]


def packages_under(directory: str, import_name: str) -> list[str]:
    """Map the packages found in ``directory`` to the ``import_name`` namespace."""
    return [import_name] + [f"{import_name}.{p}" for p in find_packages(directory)]


setup(
    name="flamenco",
    version="3.0.0.dev0",
    description="Render-farm job distribution: server, manager and worker",
    python_requires=">=3.11",
    packages=(
        [p for p in find_packages(include=["flamenco", "flamenco.*"])]
        + packages_under("manager", "flamenco_manager")
        + packages_under("worker", "flamenco_worker")
        + packages_under("protocol", "flamenco_protocol")
    ),
    package_dir={"flamenco_manager": "manager", "flamenco_worker": "worker", "flamenco_protocol": "protocol"},
    include_package_data=True,
    package_data={
        "flamenco": ["templates/**/*", "static/**/*", "web/templates/**/*"],
        "flamenco_manager": ["templates/**/*", "static/**/*"],
    },
    install_requires=WORKER_REQUIRES,
    extras_require={
        "manager": MANAGER_REQUIRES,
        "server": SERVER_REQUIRES + MANAGER_REQUIRES,
        "client": CLIENT_REQUIRES,
        "test": TEST_REQUIRES,
        "all": SERVER_REQUIRES + MANAGER_REQUIRES + TEST_REQUIRES,
    },
    entry_points={
        "console_scripts": [
            "flamenco = flamenco.cli:main",
            "flamenco-manager = flamenco_manager.cli:main",
            "flamenco-worker = flamenco_worker.cli:main",
        ],
    },
)
