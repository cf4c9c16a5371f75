"""The session services are real: FerretDB speaks MongoDB, Redis answers."""
from pathlib import Path

import pymongo
import pytest
import redis


def test_each_test_gets_a_fresh_database(mongo_db):
    assert mongo_db.list_collection_names() == []
    mongo_db.things.insert_one({"_id": 1})
    assert mongo_db.things.count_documents({}) == 1


def test_unique_index_decides_a_claim(mongo_db):
    """The claim pattern the manager's scheduler relies on: insert wins once."""
    mongo_db.claims.insert_one({"_id": "task-1", "worker": "a"})
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        mongo_db.claims.insert_one({"_id": "task-1", "worker": "b"})


def test_redis_is_flushed_per_test(redis_url):
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.set("k", "v")
    assert client.get("k") == b"v"



def test_ferretdb_build_applies_every_patch(tmp_path):
    """The build recipe patches FerretDB's source and points go.mod at the patched copy."""
    from flamenco.farm import services

    modfile = services._patched_ferretdb_modfile(tmp_path)
    replace = [line.removeprefix("replace ").split("=>")
               for line in modfile.read_text().splitlines() if line.startswith("replace ")]
    patched_src = {module.strip(): Path(src.strip()) for module, src in replace}
    assert set(patched_src) == {services.FERRETDB_MODULE, services.SQLITE_DRIVER_MODULE, services.LIBC_MODULE}
    for patch in services.FERRETDB_PATCHES:
        text = (patched_src[patch.module] / patch.path).read_text()
        assert patch.new in text
        assert patch.old not in text
    for name, (module, directory) in services.FERRETDB_ADDED_SOURCES.items():
        assert (patched_src[module] / directory / name).is_file()


def test_ferretdb_build_key_follows_the_recipe(monkeypatch):
    """The cached binary is rebuilt when a patch changes, whatever the files' times say."""
    from flamenco.farm import services

    key = services.ferretdb_build_key()
    assert services.ferretdb_build_key() == key
    monkeypatch.setattr(services, "FERRETDB_PATCHES", services.FERRETDB_PATCHES[:-1])
    assert services.ferretdb_build_key() != key
