"""A party's inbox, its disclosures and its webhooks.

Notifications are written by the use cases themselves, in the transaction
of the change they report (see ``Tx.notify``); this module only reads them
and manages where they are delivered.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from detente.domain.accounts import Caller
from detente.domain.errors import InvalidInput, NotFound, Problem
from detente.domain.model import Role
from detente.services.context import Mechanism

MAX_PAGE = 500
MAX_WEBHOOKS = 10


def inbox(m: Mechanism, caller: Caller, *, after: int = 0, unread: bool = False, limit: int = 100) -> dict[str, Any]:
    with m.store.read() as tx:
        items = tx.notifications(caller.party, after=after, unread=unread, limit=_page(limit))
        return {"items": items, "unread": tx.unread_count(caller.party)}


def since(m: Mechanism, party: str, after: int, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications of ``party`` after id ``after`` (what the live stream sends next)."""
    with m.store.read() as tx:
        return tx.notifications(party, after=after, unread=False, limit=_page(limit))


def mark_read(m: Mechanism, caller: Caller, ids: list[int]) -> int:
    if len(ids) > MAX_PAGE:
        raise InvalidInput([Problem("ids", f"mark at most {MAX_PAGE} notifications at once")])
    with m.store.write(world=False, by=caller) as tx:
        return tx.mark_read(caller.party, ids, m.clock.now())


def disclosures(m: Mechanism, caller: Caller, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """What the caller's party was told of other parties' filings (everything, for the secretariat)."""
    recipient = None if caller.role is Role.SECRETARIAT else caller.party
    with m.store.read() as tx:
        return tx.disclosures(recipient, after, _page(limit))


def add_webhook(m: Mechanism, caller: Caller, url: str) -> tuple[str, str]:
    """Register a webhook; returns its id and the signing secret (shown once)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise InvalidInput([Problem("url", "a webhook URL is an absolute http(s) URL of at most 2000 characters")])
    webhook_id = f"wh-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(32)
    with m.store.write(world=False, by=caller) as tx:
        if len(tx.webhooks(caller.party)) >= MAX_WEBHOOKS:
            raise InvalidInput([Problem("webhooks", f"a party has at most {MAX_WEBHOOKS} webhooks")])
        tx.add_webhook(id=webhook_id, party=caller.party, url=url, secret=secret, now=m.clock.now())
    return webhook_id, secret


def webhooks(m: Mechanism, caller: Caller) -> list[dict[str, Any]]:
    with m.store.read() as tx:
        return tx.webhooks(caller.party)


def deliveries(m: Mechanism, caller: Caller, webhook_id: str) -> list[dict[str, Any]]:
    with m.store.read() as tx:
        if not any(w["id"] == webhook_id for w in tx.webhooks(caller.party)):
            raise NotFound(f"no webhook {webhook_id!r}")
        return tx.deliveries(webhook_id)


def remove_webhook(m: Mechanism, caller: Caller, webhook_id: str) -> None:
    with m.store.write(world=False, by=caller) as tx:
        if not tx.deactivate_webhook(caller.party, webhook_id):
            raise NotFound(f"no webhook {webhook_id!r}")


def access_log(m: Mechanism, caller: Caller, limit: int = 100) -> list[dict[str, Any]]:
    """Who read a party's protected objects, and when (every owner's, for the secretariat)."""
    owner = None if caller.role is Role.SECRETARIAT else caller.party
    with m.store.read() as tx:
        return tx.access_log(owner, _page(limit))


def _page(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))
