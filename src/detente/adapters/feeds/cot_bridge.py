"""The mechanism's picture, live, on TAK tablets: detente's world and monitor events as CoT to every TAK client.

:class:`CotBridge` takes the world (zones, boundaries, lines, sites,
movements) and the live monitor's events and sends them, as the drawings and
markers of :mod:`detente.adapters.interop.cot_out`,

* to the TAK clients connected to detente's own
  :class:`~detente.adapters.feeds.cot_listener.CotListener`, each client
  per the need-to-know of its party (from its TLS client certificate; a
  client without one is anonymous and gets only what every party may see);
* and to a TAK server through a
  :class:`~detente.adapters.feeds.cot_publisher.CotPublisher`, per the
  publisher's ``audience`` (everything if it has none).

:meth:`CotBridge.world` sends the difference from the picture each client
last got: new and changed drawings, and deletions (``t-x-d-d``) of withdrawn
objects; every ``refresh_every`` (half of ``stale`` by default) it resends the
whole picture so it does not go stale on the tablets.  :meth:`CotBridge.events`
sends each live event as a marker at its track's last position, to the
parties it concerns (the track's party, the other party, and the
secretariat and observers).  A client that connects gets the current
picture and the live markers first (the listener's ``welcome``); a publisher
that (re)connects gets them too (its ``on_connect``).

Visibility is :func:`detente.domain.access.sight`.  Reads that need-to-know
logs (another party's sites and movements, read by a military party or the
secretariat) are passed to ``on_reads(party, objects)``, synchronously, when
they are sent to that party's clients or to the publisher's audience: the
caller writes them to the access log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from detente.adapters.feeds.cot_listener import ANONYMOUS, CotListener
from detente.adapters.feeds.cot_publisher import CotPublisher, changed_uids
from detente.adapters.interop.cot_out import (
    MAX_VERTICES,
    PUBLISHED_KINDS,
    delete_event,
    event_uid,
    object_items,
    track_event_marker,
)
from detente.domain.access import Sight, sight
from detente.domain.model import Kind, Party, Role, WorldObject
from detente.domain.tracks import Event

log = logging.getLogger("detente.cot.out")

#: ``on_reads(party, objects)``: objects whose read by ``party`` need-to-know logs were just sent to it.
OnReads = Callable[[str, list[WorldObject]], None]
#: Roles that receive every live event.
EVENT_WATCHERS: Final = frozenset({Role.SECRETARIAT, Role.OBSERVER})
#: Kinds every party may see, whoever owns them: all an anonymous client is sent.
PUBLIC_KINDS: Final = frozenset(
    k for k in PUBLISHED_KINDS if all(sight(role, ANONYMOUS, k, "\x00owner") is Sight.FULL for role in Role)
)

#: Who sees what: ``(role, party)``, ``None`` for an anonymous client, or :data:`EVERYTHING`.
View = tuple[Role, str] | str | None
#: The view of a publisher without an audience: every published object and every live event.
EVERYTHING: Final = "everything"
Items = Mapping[tuple[Kind, str], list[tuple[str, bytes]]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class BridgeStats:
    """What the bridge has sent since it was made."""

    worlds: int = 0
    refreshes: int = 0
    #: Drawings (new or changed) and deletions queued to listener clients, summed over the parties' pictures.
    drawings_sent: int = 0
    deletions_sent: int = 0
    #: Live events given, markers sent, and events not sent (no position for their track, or not a valid one).
    events: int = 0
    markers_sent: int = 0
    no_position: int = 0
    #: Markers forgotten before their stale time because more than ``max_markers`` were live.
    markers_evicted: int = 0
    welcomes: int = 0


@dataclass(frozen=True)
class _Marker:
    data: bytes
    stale: datetime
    event: Event


class CotBridge:
    """Send the world and the live events to a listener's TAK clients and to a TAK server.

    ``listener``'s ``welcome`` and ``publisher``'s ``on_connect`` are set to the
    bridge's (they must not be set already).  ``stale`` is how long a drawing
    stays on a tablet without being refreshed; ``event_stale`` the same for a
    live event's marker.  ``clock`` gives "now" (UTC) where a method is not
    given one.
    """

    def __init__(
        self,
        listener: CotListener | None = None,
        publisher: CotPublisher | None = None,
        *,
        stale: timedelta = timedelta(minutes=10),
        event_stale: timedelta = timedelta(minutes=5),
        refresh_every: timedelta | None = None,
        max_vertices: int = MAX_VERTICES,
        max_markers: int = 10_000,
        on_reads: OnReads | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if stale <= timedelta(0) or event_stale <= timedelta(0):
            raise ValueError("stale and event_stale must be positive")
        if max_markers <= 0:
            raise ValueError("max_markers must be positive")
        self.listener = listener
        self.publisher = publisher
        self.stale = stale
        self.event_stale = event_stale
        self.refresh_every = refresh_every if refresh_every is not None else stale / 2
        self.max_vertices = max_vertices
        self.max_markers = max_markers
        self.on_reads = on_reads
        self.clock = clock
        self.stats = BridgeStats()
        self._objects: list[WorldObject] = []
        self._parties: dict[str, Party] = {}
        #: The picture each connected party's clients hold, by party (ANONYMOUS included): uid -> event.
        self._pictures: dict[str, dict[str, bytes]] = {}
        self._last_refresh: datetime | None = None
        #: The drawings of the last world, by object, as built by the last :meth:`world` call.
        self._last_items: Items | None = None
        #: Live markers by uid, oldest first.
        self._markers: dict[str, _Marker] = {}
        if listener is not None:
            if listener.welcome is not None:
                raise ValueError("the listener already has a welcome")
            listener.welcome = self._welcome
        if publisher is not None:
            if publisher.on_connect is not None:
                raise ValueError("the publisher already has an on_connect")
            publisher.on_connect = self._publisher_connect

    # -- the API -------------------------------------------------------------------------------

    async def world(
        self,
        objects: Iterable[WorldObject],
        parties: Mapping[str, Party] | Iterable[Party],
        *,
        now: datetime | None = None,
        refresh: bool | None = None,
    ) -> None:
        """Send the picture of ``objects``: what changed since the last call, and deletions of what is gone.

        ``parties`` (by id, or a list) gives each party's role, for its
        need-to-know; a client whose party is not among them is sent what an
        anonymous client is.  Intents are never sent.  ``refresh`` resends
        everything (by default, when ``refresh_every`` has passed since the
        last full send): call this at least that often, so drawings do not go
        stale on the tablets.
        """
        now = now or self.clock()
        self._objects = [o for o in objects if o.kind in PUBLISHED_KINDS]
        self._parties = dict(parties) if isinstance(parties, Mapping) else {p.id: p for p in parties}
        if refresh is None:
            refresh = self._last_refresh is None or now - self._last_refresh >= self.refresh_every
        if refresh:
            self._last_refresh = now
            self.stats.refreshes += 1
        self.stats.worlds += 1
        items = self._last_items = self._items(now)
        if self.listener is not None:
            audiences = self.listener.audiences()
            for party in list(self._pictures):
                if party not in audiences:
                    del self._pictures[party]  # no client of it left: its picture is rebuilt on the next welcome
            for party in sorted(audiences):
                after = self._assemble(items, self._view(party))
                before = self._pictures.get(party, {})
                changed, gone = changed_uids(before, after)
                to_send = list(after.values()) if refresh else [after[uid] for uid in changed]
                batch = [delete_event(uid, now=now) for uid in gone] + to_send
                self._pictures[party] = after
                if batch:
                    self.listener.send(batch, {party})
                    self.stats.drawings_sent += len(to_send)
                    self.stats.deletions_sent += len(gone)
                self._report_reads(party, changed, items)
        if self.publisher is not None:
            audience = self.publisher.audience
            after = self._assemble(items, self._publisher_view())
            changed, _ = changed_uids(self.publisher.current_picture, after)
            await self.publisher.sync(after, now=now, refresh=refresh)
            if audience is not None:
                self._report_reads(audience[1], changed, items)

    async def events(
        self,
        events: Iterable[Event],
        positions: Mapping[str, tuple[float, float, float]],
        *,
        now: datetime | None = None,
    ) -> None:
        """Send live events as markers at their track's last position ``positions[track]`` = ``(lon, lat, alt_m)``.

        Each marker goes to the clients of the event's party, of the other
        party, and of the secretariat and observers (the roles of the
        ``parties`` last given to :meth:`world`); never to anonymous clients.
        An event whose track has no position is not sent (counted in
        ``stats.no_position``).  Sending an event again (same type, track,
        other and start) moves its marker; a marker goes stale
        ``event_stale`` after it was last sent.
        """
        now = now or self.clock()
        self._prune(now)
        by_audience: dict[frozenset[str], list[bytes]] = {}
        to_publisher: list[bytes] = []
        for event in events:
            self.stats.events += 1
            position = positions.get(event.track)
            if position is None:
                self.stats.no_position += 1
                log.debug("no position for track %r: event %s not sent", event.track, event.type.value)
                continue
            lon, lat = position[0], position[1]
            try:
                data = track_event_marker(event, lon, lat, now=now, stale=self.event_stale)
            except ValueError as exc:
                self.stats.no_position += 1
                log.warning("event %s of track %r not sent: %s", event.type.value, event.track, exc)
                continue
            uid = event_uid(event)
            self._markers.pop(uid, None)
            self._markers[uid] = _Marker(data, now + self.event_stale, event)
            by_audience.setdefault(self._concerned(event), []).append(data)
            if self.publisher is not None and self._sees_event(self._publisher_view(), event):
                to_publisher.append(data)
            self.stats.markers_sent += 1
        while len(self._markers) > self.max_markers:
            del self._markers[next(iter(self._markers))]
            self.stats.markers_evicted += 1
        if self.listener is not None:
            for audience, batch in by_audience.items():
                self.listener.send(batch, audience)
        if to_publisher and self.publisher is not None:
            await self.publisher.publish(to_publisher)

    def picture_for(self, party: str, *, now: datetime | None = None) -> dict[str, bytes]:
        """The drawings a client of ``party`` (:data:`ANONYMOUS` for none) is sent for the last world, by uid."""
        return self._assemble(self._items(now or self.clock()), self._view(party))

    # -- need-to-know --------------------------------------------------------------------------

    def _view(self, party: str) -> View:
        known = self._parties.get(party) if party != ANONYMOUS else None
        return (known.role, known.id) if known is not None else None

    def _publisher_view(self) -> View:
        audience = self.publisher.audience if self.publisher is not None else None
        return EVERYTHING if audience is None else audience

    @staticmethod
    def _sees(view: View, obj: WorldObject) -> bool:
        if view is None:
            return obj.kind in PUBLIC_KINDS
        if isinstance(view, str):
            return True
        return sight(view[0], view[1], obj.kind, obj.party) is not Sight.NONE

    def _concerned(self, event: Event) -> frozenset[str]:
        """The parties a live event is sent to: its two parties, the secretariat and the observers."""
        watchers = {p.id for p in self._parties.values() if p.role in EVENT_WATCHERS}
        return frozenset({event.party, event.other.party, *watchers} - {ANONYMOUS})

    @staticmethod
    def _sees_event(view: View, event: Event) -> bool:
        if view is None:
            return False  # an anonymous client: no live event
        if isinstance(view, str):
            return True
        role, party = view
        return role in EVENT_WATCHERS or party in (event.party, event.other.party)

    def _report_reads(self, party: str, uids: Iterable[str], items: Items) -> None:
        """Tell ``on_reads`` which logged objects ``party`` was just sent (by the uids of their drawings)."""
        if self.on_reads is None or party not in self._parties:
            return
        role = self._parties[party].role
        wanted = set(uids)
        read = [
            obj
            for obj in self._objects
            if sight(role, party, obj.kind, obj.party) is Sight.LOGGED
            and any(uid in wanted for uid, _ in items.get(obj.key, ()))
        ]
        if read:
            self.on_reads(party, read)

    # -- pictures ------------------------------------------------------------------------------

    def _items(self, now: datetime) -> dict[tuple[Kind, str], list[tuple[str, bytes]]]:
        """Every published object's drawings at ``now``, built once for all audiences."""
        out: dict[tuple[Kind, str], list[tuple[str, bytes]]] = {}
        for obj in self._objects:
            try:
                out[obj.key] = object_items(obj, now=now, stale=self.stale, max_vertices=self.max_vertices)
            except ValueError as exc:  # too big to draw: skipped, said
                log.warning("%s %r not drawn: %s", obj.kind.value, obj.id, exc)
                out[obj.key] = []
        return out

    def _cached_items(self, now: datetime) -> Items:
        """The drawings of the last :meth:`world` call (which refreshes them every ``refresh_every``)."""
        if self._last_items is None:
            self._last_items = self._items(now)
        return self._last_items

    def _assemble(self, items: Items, view: View) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for obj in self._objects:
            if self._sees(view, obj):
                for uid, data in items.get(obj.key, ()):
                    out[uid] = data
        return out

    def _prune(self, now: datetime) -> None:
        for uid in [uid for uid, marker in self._markers.items() if marker.stale <= now]:
            del self._markers[uid]

    def _live_markers(self, view: View, now: datetime) -> list[bytes]:
        self._prune(now)
        return [m.data for m in self._markers.values() if self._sees_event(view, m.event)]

    # -- connections ---------------------------------------------------------------------------

    def _welcome(self, party: str) -> list[bytes]:
        """What a listener client of ``party`` gets first: its party's current picture and the live markers."""
        now = self.clock()
        items = self._cached_items(now)
        picture = self._pictures.get(party)
        if picture is None:
            picture = self._pictures[party] = self._assemble(items, self._view(party))
        self.stats.welcomes += 1
        self._report_reads(party, picture, items)
        return [*picture.values(), *self._live_markers(self._view(party), now)]

    def _publisher_connect(self) -> list[bytes]:
        """What a TAK server gets on every (re)connection: the whole current picture and the live markers."""
        now = self.clock()
        items = self._cached_items(now)
        view = self._publisher_view()
        picture = self._assemble(items, view)
        if isinstance(view, tuple):
            self._report_reads(view[1], picture, items)
        return [*picture.values(), *self._live_markers(view, now)]


__all__ = ["EVENT_WATCHERS", "EVERYTHING", "PUBLIC_KINDS", "BridgeStats", "CotBridge", "OnReads"]
