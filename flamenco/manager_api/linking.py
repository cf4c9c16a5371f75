"""Linking a Manager to the server with a shared secret (reference §6.2, A.4.7).

1. ``exchange``: the Manager hands over a random secret, gets an identifier.
2. ``choose``: the user's browser arrives with ``HMAC(secret, "<identifier>-<return>")``,
   the user picks one of *their own* Managers or creates one (Flamenco 2 took
   any Manager id, letting anyone steal another Manager's token, §14.5), and
   is sent back with ``HMAC(secret, "<identifier>-<manager_id>")``.
3. ``reset-token``: the Manager proves it holds the secret with
   ``HMAC(secret, "<padding>-<identifier>-<manager_id>")`` and gets a new token.

Keys expire after 15 minutes. There is no TTL index (the local store lacks
them, flamenco.store: no-ttl), so expired keys are ignored here, a client's
own expired keys are deleted on its next exchange, and all of them by a
Celery beat job. ``exchange`` is anonymous: each key records the client address that asked for it, and an
address holding ``MAX_PENDING_LINKING_KEYS_PER_ADDRESS`` unexpired keys is
refused (429) until its oldest expires; other addresses are unaffected.
"""
from __future__ import annotations

import binascii
import dataclasses
import datetime
import hashlib
import hmac
from urllib.parse import urljoin, urlencode

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, managers
from flamenco.auth import CurrentUser, roles, tokens
from flamenco.manager_api import defaults
from flamenco.store.collections import MANAGER_LINKING_KEYS, MANAGERS



class LinkingError(ValueError):
    """A linking step failed; ``code`` is the HTTP status, ``field`` the culprit."""

    def __init__(self, code: int, message: str, field: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.retry_after = retry_after


def compute_hmac(secret: bytes, message: str) -> str:
    """Hex HMAC-SHA256, the signature every linking message carries."""
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _check_hmac(secret: bytes, message: str, given: object) -> None:
    if not isinstance(given, str) or not hmac.compare_digest(compute_hmac(secret, message), given.lower()):
        raise LinkingError(400, "Bad HMAC", "hmac")


def _parse_identifier(identifier: object) -> ObjectId:
    if not isinstance(identifier, str) or not ObjectId.is_valid(identifier):
        raise LinkingError(400, "identifier must be a 24-character hex ObjectId", "identifier")
    return ObjectId(identifier)


def exchange_key(db: Database, key_hex: object, client_address: str,
                 now: datetime.datetime | None = None) -> ObjectId:
    """Store the Manager's secret for 15 minutes; return the identifier.

    Refused (429, ``retry_after`` set) while ``client_address`` holds the
    maximum number of unexpired keys.
    """
    if not key_hex:
        raise LinkingError(400, "No key given", "key")
    try:
        secret = binascii.unhexlify(key_hex) if isinstance(key_hex, str) else None
    except (binascii.Error, ValueError):
        secret = None
    if secret is None:
        raise LinkingError(400, "Malformed key", "key")
    if not defaults.LINKING_KEY_MIN_BYTES <= len(secret) <= defaults.LINKING_KEY_MAX_BYTES:
        raise LinkingError(400, f"Malformed key: must be {defaults.LINKING_KEY_MIN_BYTES}-"
                                f"{defaults.LINKING_KEY_MAX_BYTES} bytes", "key")
    now = now or clock.utcnow()
    check_pending_keys(db, client_address, now)
    identifier = ObjectId()
    db[MANAGER_LINKING_KEYS].insert_one({"_id": identifier, "secret_key": secret,
                                 "remove_after": now + defaults.LINKING_KEY_LIFETIME,
                                 "client_address": client_address})
    return identifier


def check_pending_keys(db: Database, client_address: str, now: datetime.datetime) -> None:
    """Delete the address's expired keys; 429 if it still holds the maximum of live ones."""
    keys = db[MANAGER_LINKING_KEYS]
    keys.delete_many({"client_address": client_address, "remove_after": {"$lte": now}})
    limit = defaults.MAX_PENDING_LINKING_KEYS_PER_ADDRESS
    pending = list(keys.find({"client_address": client_address}, projection=["remove_after"])
                   .sort("remove_after", 1).limit(limit))
    if len(pending) < limit:
        return
    oldest = clock.as_utc(pending[0]["remove_after"])
    wait = max(1, int((oldest - now).total_seconds()) + 1)
    raise LinkingError(429, "too many linking requests from this address; try again in a few minutes",
                       retry_after=wait)


def live_key(db: Database, identifier: object, manager_id: ObjectId | None = None,
             now: datetime.datetime | None = None) -> dict | None:
    """The unexpired key doc of ``identifier`` (bound to ``manager_id`` if given), or None."""
    query: dict = {"_id": _parse_identifier(identifier)}
    if manager_id is not None:
        query["manager_id"] = manager_id
    doc = db[MANAGER_LINKING_KEYS].find_one(query)
    if doc is None:
        return None
    return doc if clock.as_utc(doc["remove_after"]) > (now or clock.utcnow()) else None


@dataclasses.dataclass
class ChooseRequest:
    """A verified ``choose`` request: the key and where to send the browser back."""

    key: dict
    identifier: str
    return_url: str


def verify_choose(db: Database, identifier: object, return_url: object, given_hmac: object) -> ChooseRequest:
    """Check the browser's link came from the Manager holding the secret."""
    if not isinstance(return_url, str) or not return_url.startswith(("http://", "https://")):
        raise LinkingError(400, "return must be the Manager's http(s) URL", "return")
    key = live_key(db, identifier)
    if key is None:
        raise LinkingError(404, "Secret key not found; it may have expired. Start linking again on the Manager.",
                           "identifier")
    _check_hmac(bytes(key["secret_key"]), f"{identifier}-{return_url}", given_hmac)
    return ChooseRequest(key=key, identifier=str(identifier), return_url=return_url)


def owned_managers(db: Database, user: CurrentUser) -> list[dict]:
    """Managers the user may link: the ones they own (all of them for admins)."""
    query: dict = {} if user.is_superuser or user.has_cap(roles.CAP_ADMIN) else {"owner_users": user.user_id}
    return list(db[MANAGERS].find(query, projection=["name", "description", "url"]).sort("name", 1))


def choose_manager(db: Database, user: CurrentUser, request: ChooseRequest, manager_choice: object,
                   new_name: object) -> str:
    """Bind the key to an owned or new Manager; return the URL to send the browser back to."""
    if not user.has_cap(roles.CAP_USE):
        raise LinkingError(403, "linking a Manager needs the 'flamenco-use' capability")
    if manager_choice == "new":
        name = new_name.strip() if isinstance(new_name, str) else ""
        if not name:
            raise LinkingError(422, "a new Manager needs a name", "manager-name")
        unlimited = user.is_superuser or user.has_cap(roles.CAP_ADMIN)
        try:
            manager, _token = managers.create_manager(db, name, owner=user.user_id, enforce_limit=not unlimited)
        except managers.ManagerError as ex:
            raise LinkingError(422, str(ex), "manager-name") from None
        manager_id = manager["_id"]
    else:
        if not isinstance(manager_choice, str) or not ObjectId.is_valid(manager_choice):
            raise LinkingError(400, "manager-id must be 'new' or a Manager id", "manager-id")
        manager_id = ObjectId(manager_choice)
        if manager_id not in {m["_id"] for m in owned_managers(db, user)}:
            raise LinkingError(403, "you can only link a Manager you own", "manager-id")
    db[MANAGER_LINKING_KEYS].update_one({"_id": request.key["_id"]}, {"$set": {"manager_id": manager_id}})
    mac = compute_hmac(bytes(request.key["secret_key"]), f"{request.identifier}-{manager_id}")
    return urljoin(request.return_url, "?" + urlencode({"hmac": mac, "oid": str(manager_id)}))


def reset_token(db: Database, payload: dict) -> dict:
    """Verify the Manager's signed request and give it a fresh token (revoking the old ones)."""
    manager_id_raw = payload.get("manager_id")
    if not isinstance(manager_id_raw, str) or not ObjectId.is_valid(manager_id_raw):
        raise LinkingError(400, "manager_id must be a 24-character hex ObjectId", "manager_id")
    manager_id = ObjectId(manager_id_raw)
    identifier = payload.get("identifier")
    padding = payload.get("padding")
    if not isinstance(padding, str) or not padding:
        raise LinkingError(400, "padding is required", "padding")
    key = live_key(db, identifier, manager_id)
    if key is None:
        raise LinkingError(400, "No secret key exchanged", "identifier")
    _check_hmac(bytes(key["secret_key"]), f"{padding}-{identifier}-{manager_id}", payload.get("hmac"))
    manager = db[MANAGERS].find_one({"_id": manager_id})
    if manager is None:
        raise LinkingError(404, f"Manager {manager_id} does not exist", "manager_id")
    token = managers.reset_token(db, manager)
    db[MANAGER_LINKING_KEYS].delete_many({"manager_id": manager_id})
    token_doc = tokens.token_doc(db, token) or {}
    return {"token": token, "expire_time": token_doc.get("expire_time")}
