"""Linking: exchange, choose (with the ownership check), reset-token, expiry."""
from __future__ import annotations

import datetime
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from bson import ObjectId

from flamenco import clock
from flamenco.manager_api.linking import compute_hmac
from flamenco.store.collections import MANAGER_LINKING_KEYS
from tests.server.manager_api.conftest import basic_auth

LINK = "/api/flamenco/managers/link"
CHOOSE = "/flamenco/managers/link/choose"
RETURN_URL = "http://manager.local:8083/setup/link-return"


@pytest.fixture
def secret() -> bytes:
    return secrets.token_bytes(32)


def exchange(client, secret: bytes) -> str:
    resp = client.post(f"{LINK}/exchange", json={"key": secret.hex()})
    assert resp.status_code == 200, resp.json
    return resp.json["identifier"]


def choose_query(identifier: str, secret: bytes, return_url: str = RETURN_URL) -> dict:
    return {"identifier": identifier, "return": return_url,
            "hmac": compute_hmac(secret, f"{identifier}-{return_url}")}


def user_headers(world, who: str) -> dict:
    return {"Authorization": f"Bearer {world.tokens[who]}", "Accept": "application/json"}


def reset_payload(identifier: str, manager_id: str, secret: bytes) -> dict:
    padding = secrets.token_hex(32)
    return {"identifier": identifier, "manager_id": manager_id, "padding": padding,
            "hmac": compute_hmac(secret, f"{padding}-{identifier}-{manager_id}")}


def test_full_linking_of_an_owned_manager(world, secret):
    client = world.client
    identifier = exchange(client, secret)
    key = world.db[MANAGER_LINKING_KEYS].find_one({"_id": ObjectId(identifier)})
    assert bytes(key["secret_key"]) == secret
    query = choose_query(identifier, secret)
    listed = client.get(CHOOSE, query_string=query, headers=user_headers(world, "alice"))
    assert listed.status_code == 200
    assert [m["name"] for m in listed.json["managers"]] == ["Manager A"]
    manager_id = str(world.manager_a["_id"])
    resp = client.post(CHOOSE, query_string=query, json={"manager-id": manager_id},
                       headers=user_headers(world, "alice"))
    assert resp.status_code == 307
    back = urlsplit(resp.headers["Location"])
    assert back.path == "/setup/link-return"
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert params["oid"] == manager_id
    assert params["hmac"] == compute_hmac(secret, f"{identifier}-{manager_id}")

    old_token = world.tokens["manager_a"]
    resp = client.post(f"{LINK}/reset-token", json=reset_payload(identifier, manager_id, secret))
    assert resp.status_code == 200, resp.json
    new_token = resp.json["token"]
    assert new_token.startswith("SRV") and resp.json["expire_time"].endswith(" GMT")
    base = f"/api/flamenco/managers/{manager_id}"
    assert client.get(f"{base}/depsgraph", headers=basic_auth(old_token)).status_code == 401
    assert client.get(f"{base}/depsgraph", headers=basic_auth(new_token)).status_code == 204
    assert world.db[MANAGER_LINKING_KEYS].count_documents({}) == 0


def test_choosing_someone_elses_manager_is_refused(world, secret):
    identifier = exchange(world.client, secret)
    query = choose_query(identifier, secret)
    resp = world.client.post(CHOOSE, query_string=query, json={"manager-id": str(world.manager_a["_id"])},
                             headers=user_headers(world, "bob"))
    assert resp.status_code == 403
    assert "manager-id" in resp.json["_issues"]
    assert "manager_id" not in world.db[MANAGER_LINKING_KEYS].find_one({"_id": ObjectId(identifier)})
    # Without a bound key, the attacker's Manager cannot get a token.
    resp = world.client.post(f"{LINK}/reset-token", json=reset_payload(identifier, str(world.manager_a["_id"]), secret))
    assert resp.status_code == 400


def test_choose_new_manager_creates_one_owned_by_the_user(world, secret):
    identifier = exchange(world.client, secret)
    resp = world.client.post(CHOOSE, query_string=choose_query(identifier, secret),
                             json={"manager-id": "new", "manager-name": "Bob's farm"},
                             headers=user_headers(world, "bob"))
    assert resp.status_code == 307
    oid = parse_qs(urlsplit(resp.headers["Location"]).query)["oid"][0]
    doc = world.db["flamenco_managers"].find_one({"_id": ObjectId(oid)})
    assert doc["name"] == "Bob's farm" and doc["owner_users"] == [world.bob["_id"]]
    resp = world.client.post(f"{LINK}/reset-token", json=reset_payload(identifier, oid, secret))
    assert resp.status_code == 200


def test_new_manager_needs_a_name_and_respects_the_limit(world, secret):
    identifier = exchange(world.client, secret)
    query = choose_query(identifier, secret)
    resp = world.client.post(CHOOSE, query_string=query, json={"manager-id": "new"},
                             headers=user_headers(world, "bob"))
    assert resp.status_code == 422 and "manager-name" in resp.json["_issues"]
    for i in range(2):
        resp = world.client.post(CHOOSE, query_string=query, json={"manager-id": "new", "manager-name": f"m{i}"},
                                 headers=user_headers(world, "bob"))
        assert resp.status_code == 307
    resp = world.client.post(CHOOSE, query_string=query, json={"manager-id": "new", "manager-name": "one too many"},
                             headers=user_headers(world, "bob"))
    assert resp.status_code == 422


def test_bad_hmac_and_unknown_identifier(world, secret):
    identifier = exchange(world.client, secret)
    query = {**choose_query(identifier, secret), "hmac": "00" * 32}
    resp = world.client.get(CHOOSE, query_string=query, headers=user_headers(world, "alice"))
    assert resp.status_code == 400 and resp.json["_message"] == "Bad HMAC"
    resp = world.client.get(CHOOSE, query_string=choose_query(str(ObjectId()), secret),
                            headers=user_headers(world, "alice"))
    assert resp.status_code == 404
    bad_reset = reset_payload(identifier, str(world.manager_a["_id"]), secrets.token_bytes(32))
    world.db[MANAGER_LINKING_KEYS].update_one({"_id": ObjectId(identifier)},
                                              {"$set": {"manager_id": world.manager_a["_id"]}})
    resp = world.client.post(f"{LINK}/reset-token", json=bad_reset)
    assert resp.status_code == 400 and resp.json["_message"] == "Bad HMAC"


def test_expired_key_is_not_usable(world, secret):
    identifier = exchange(world.client, secret)
    world.db[MANAGER_LINKING_KEYS].update_one({"_id": ObjectId(identifier)}, {"$set": {
        "remove_after": clock.utcnow() - datetime.timedelta(seconds=1), "manager_id": world.manager_a["_id"]}})
    resp = world.client.get(CHOOSE, query_string=choose_query(identifier, secret),
                            headers=user_headers(world, "alice"))
    assert resp.status_code == 404
    resp = world.client.post(f"{LINK}/reset-token",
                             json=reset_payload(identifier, str(world.manager_a["_id"]), secret))
    assert resp.status_code == 400 and resp.json["_message"] == "No secret key exchanged"


def test_exchange_validates_the_key(world):
    assert world.client.post(f"{LINK}/exchange", json={}).json["_message"] == "No key given"
    resp = world.client.post(f"{LINK}/exchange", json={"key": "xyz"})
    assert resp.status_code == 400 and resp.json["_message"] == "Malformed key"
    resp = world.client.post(f"{LINK}/exchange", json={"key": "abcd"})
    assert resp.status_code == 400 and "key" in resp.json["_issues"]


def test_exchange_is_capped_per_client_address(world, monkeypatch, secret):
    """One address's flood is refused (with Retry-After) while another address still links (issue 13)."""
    from flamenco.manager_api import defaults

    monkeypatch.setattr(defaults, "MAX_PENDING_LINKING_KEYS_PER_ADDRESS", 3)
    flooder = {"REMOTE_ADDR": "192.0.2.66"}
    for _ in range(3):
        assert world.client.post(f"{LINK}/exchange", json={"key": secret.hex()},
                                 environ_base=flooder).status_code == 200
    for _ in range(5):
        refused = world.client.post(f"{LINK}/exchange", json={"key": secret.hex()}, environ_base=flooder)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60 + 1
    other = world.client.post(f"{LINK}/exchange", json={"key": secret.hex()},
                              environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200 and ObjectId.is_valid(other.json["identifier"])


def test_an_address_links_again_once_its_keys_expire(world, monkeypatch, secret):
    """Expired keys stop counting and are deleted at the address's next exchange."""
    from flamenco.manager_api import defaults

    monkeypatch.setattr(defaults, "MAX_PENDING_LINKING_KEYS_PER_ADDRESS", 2)
    address = {"REMOTE_ADDR": "192.0.2.66"}
    first = [world.client.post(f"{LINK}/exchange", json={"key": secret.hex()}, environ_base=address).json["identifier"]
             for _ in range(2)]
    assert world.client.post(f"{LINK}/exchange", json={"key": secret.hex()}, environ_base=address).status_code == 429
    world.db[MANAGER_LINKING_KEYS].update_many({"_id": {"$in": [ObjectId(i) for i in first]}}, {"$set": {
        "remove_after": clock.utcnow() - datetime.timedelta(seconds=1)}})
    assert world.client.post(f"{LINK}/exchange", json={"key": secret.hex()}, environ_base=address).status_code == 200
    assert world.db[MANAGER_LINKING_KEYS].count_documents({"_id": {"$in": [ObjectId(i) for i in first]}}) == 0


def test_choose_needs_login(world, secret):
    identifier = exchange(world.client, secret)
    resp = world.client.get(CHOOSE, query_string=choose_query(identifier, secret),
                            headers={"Accept": "application/json"})
    assert resp.status_code == 401
    resp = world.client.get(CHOOSE, query_string=choose_query(identifier, secret), headers={"Accept": "text/html"})
    assert resp.status_code in (303, 401)


def test_choose_page_html_lists_owned_managers(world, secret):
    identifier = exchange(world.client, secret)
    resp = world.client.get(CHOOSE, query_string=choose_query(identifier, secret),
                            headers={"Authorization": f"Bearer {world.tokens['alice']}", "Accept": "text/html"})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Manager A" in page and "Manager B" not in page and 'name="csrf_token"' in page


def test_viewer_without_use_capability_cannot_link(world, secret):
    identifier = exchange(world.client, secret)
    resp = world.client.post(CHOOSE, query_string=choose_query(identifier, secret),
                             json={"manager-id": "new", "manager-name": "v"}, headers=user_headers(world, "vera"))
    assert resp.status_code == 403
