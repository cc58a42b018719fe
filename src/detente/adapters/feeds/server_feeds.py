"""The position feeds and the CoT picture a running server serves, as configured.

``detente serve`` (through ``DETENTE_*`` environment variables, so every
worker reads the same settings) can run:

* a **CoT listener** for TAK clients (``--cot-listen HOST:PORT``, with the
  feed's mapping table ``--cot-mapping FILE`` and, optionally, TLS with
  client certificates ``--cot-tls CERT,KEY,CA`` and the parties of their
  common names ``--cot-cn-parties FILE``): their reports go to the live
  monitor, and each client is sent the picture its party may see and the
  live events that concern it;
* an **ADS-B poller** (``--adsb-url URL --adsb-mapping FILE``) reading
  ``aircraft.json`` from readsb or dump1090 every ``--adsb-interval`` s;
* a **publisher to a TAK server** (``--tak-server HOST:PORT --tak-party P``)
  sending the picture party ``P`` may see (a TAK server shares what it
  gets with every client on it, so it is given one party's view, never
  everything).

Reports from the feeds are the secretariat's (the feed mapping decides the
party); a batch the monitor refuses is retried report by report and each
bad one is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detente.adapters.feeds.cot_bridge import CotBridge
from detente.adapters.feeds.cot_listener import CotListener, server_ssl_context
from detente.adapters.feeds.cot_publisher import CotPublisher
from detente.adapters.interop.feedmap import FeedMapping, Report
from detente.domain.errors import InvalidInput, Problem
from detente.domain.model import Scenario, WorldObject
from detente.engine.live import Step
from detente.services.context import Mechanism
from detente.services.live import LiveMonitor

log = logging.getLogger("detente.feeds")

#: How often the CoT picture is checked against the world (it is resent in full every few minutes anyway).
WORLD_CHECK_S = 2.0


def _address(name: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) <= 65535):
        raise InvalidInput([Problem(name, f"{value!r} is not HOST:PORT")])
    return host or "127.0.0.1", int(port)


def _json_file(name: str, path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput([Problem(name, f"cannot read {path}: {exc}")]) from exc


@dataclass(frozen=True)
class FeedSettings:
    """What feeds a server runs (all off by default)."""

    cot_listen: tuple[str, int] | None = None
    cot_mapping: FeedMapping | None = None
    cot_tls: tuple[Path, Path, Path] | None = None
    cot_parties_by_cn: Mapping[str, str] = field(default_factory=dict)
    adsb_url: str | None = None
    adsb_mapping: FeedMapping | None = None
    adsb_interval_s: float = 1.0
    tak_server: tuple[str, int] | None = None
    tak_party: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.cot_listen or self.adsb_url or self.tak_server)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FeedSettings:
        """The settings ``detente serve`` passes to its workers; a bad one is refused with its variable named."""
        problems: list[Problem] = []
        values: dict[str, Any] = {}

        def take(var: str, read: Any) -> None:
            raw = env.get(var)
            if not raw:
                return
            try:
                read(raw)
            except InvalidInput as exc:
                problems.extend(Problem(var, p.message) for p in exc.problems)

        take("DETENTE_COT_LISTEN", lambda v: values.__setitem__("cot_listen", _address("DETENTE_COT_LISTEN", v)))
        take(
            "DETENTE_COT_MAPPING",
            lambda v: values.__setitem__("cot_mapping", FeedMapping.from_dict(_json_file("DETENTE_COT_MAPPING", v))),
        )
        take("DETENTE_COT_TLS", lambda v: values.__setitem__("cot_tls", _tls(v)))
        take("DETENTE_COT_CN_PARTIES", lambda v: values.__setitem__("cot_parties_by_cn", _cn_parties(v)))
        take("DETENTE_ADSB_URL", lambda v: values.__setitem__("adsb_url", v))
        take(
            "DETENTE_ADSB_MAPPING",
            lambda v: values.__setitem__("adsb_mapping", FeedMapping.from_dict(_json_file("DETENTE_ADSB_MAPPING", v))),
        )
        take("DETENTE_ADSB_INTERVAL_S", lambda v: values.__setitem__("adsb_interval_s", _positive(v)))
        take("DETENTE_TAK_SERVER", lambda v: values.__setitem__("tak_server", _address("DETENTE_TAK_SERVER", v)))
        take("DETENTE_TAK_PARTY", lambda v: values.__setitem__("tak_party", v))
        settings = cls(**values)
        if settings.cot_listen and settings.cot_mapping is None:
            problems.append(Problem("DETENTE_COT_MAPPING", "a CoT listener needs the feed's mapping table"))
        if settings.adsb_url and settings.adsb_mapping is None:
            problems.append(Problem("DETENTE_ADSB_MAPPING", "an ADS-B feed needs its mapping table"))
        if settings.tak_server and not settings.tak_party:
            problems.append(Problem("DETENTE_TAK_PARTY", "name the party whose picture the TAK server gets"))
        if problems:
            raise InvalidInput(problems)
        return settings


def _tls(value: str) -> tuple[Path, Path, Path]:
    parts = [Path(p) for p in value.split(",")]
    if len(parts) != 3:
        raise InvalidInput([Problem("DETENTE_COT_TLS", "give CERT,KEY,CA (three files)")])
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise InvalidInput([Problem("DETENTE_COT_TLS", f"no such file: {', '.join(missing)}")])
    return parts[0], parts[1], parts[2]


def _cn_parties(path: str) -> dict[str, str]:
    raw = _json_file("DETENTE_COT_CN_PARTIES", path)
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise InvalidInput([Problem("DETENTE_COT_CN_PARTIES", "expected an object of certificate CN -> party id")])
    return raw


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise InvalidInput([Problem("DETENTE_ADSB_INTERVAL_S", f"{value!r} is not a positive number of seconds")])
    return number


class Feeds:
    """The feeds of one server process: started and stopped with the app."""

    def __init__(self, settings: FeedSettings, live: LiveMonitor, mechanism: Mechanism) -> None:
        self.settings = settings
        self.live = live
        self.m = mechanism
        self.listener: CotListener | None = None
        self.publisher: CotPublisher | None = None
        self.poller: Any = None
        self.bridge: CotBridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._world_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        self._loop = asyncio.get_running_loop()
        if s.cot_listen and s.cot_mapping is not None:
            tls = None if s.cot_tls is None else server_ssl_context(*s.cot_tls)
            host, port = s.cot_listen
            self.listener = CotListener(
                host, port, s.cot_mapping, self._reports, ssl_context=tls, parties_by_cn=s.cot_parties_by_cn
            )
        if s.tak_server and s.tak_party:
            scenario = await asyncio.to_thread(self.m.store.load_world)
            party = scenario.parties.get(s.tak_party)
            if party is None:
                raise InvalidInput([Problem("DETENTE_TAK_PARTY", f"unknown party {s.tak_party!r}")])
            self.publisher = CotPublisher(*s.tak_server, audience=(party.role, party.id))
        if self.listener is not None or self.publisher is not None:
            self.bridge = CotBridge(self.listener, self.publisher, on_reads=self._log_reads)
            self.live.listeners.append(self._on_step)
        if self.listener is not None:
            await self.listener.start()
        if self.publisher is not None:
            await self.publisher.start()
        if self.bridge is not None:
            await self._sync_world(force=True)
            self._world_task = asyncio.create_task(self._watch_world(), name="detente-cot-world")
        if s.adsb_url and s.adsb_mapping is not None:
            from detente.adapters.feeds.adsb_poller import AdsbPoller

            self.poller = AdsbPoller(s.adsb_url, s.adsb_mapping, self._reports, interval_s=s.adsb_interval_s)
            await self.poller.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._on_step in self.live.listeners:
            self.live.listeners.remove(self._on_step)
        if self._world_task is not None:
            await self._world_task
        if self.poller is not None:
            await self.poller.stop()
        if self.publisher is not None:
            await self.publisher.stop()
        if self.listener is not None:
            await self.listener.stop()

    # -- reports in ---------------------------------------------------------------------

    async def _reports(self, reports: list[Report]) -> None:
        """A feed's reports to the live monitor (as the secretariat's feed: the mapping chose each party)."""
        rows = [r.row() for r in reports]
        if not rows:
            return
        try:
            await asyncio.to_thread(self.live.submit, rows, None)
        except InvalidInput:
            for row in rows:
                try:
                    await asyncio.to_thread(self.live.submit, [row], None)
                except InvalidInput as exc:
                    log.warning("dropped a report of track %r: %s", row[0], exc.problems[0].message)
        except Exception:  # a feed must outlive a bad batch
            log.exception("the monitor did not take %d reports", len(rows))

    # -- the picture out ------------------------------------------------------------------

    def _on_step(self, step: Step, scenario: Scenario) -> None:
        """On the monitor's thread: send the episodes that opened, went on or closed as CoT markers."""
        if self.bridge is None or self._loop is None:
            return
        episodes = step.opened + step.extended + step.closed
        state = self.live.state
        positions = {}
        for ep in episodes:
            code = state.code.get(ep.event.track)
            if code is not None:
                lon, lat, alt = (float(v) for v in state.last_pos[code])
                positions[ep.event.track] = (lon, lat, alt)
        events = [ep.as_event() for ep in episodes]
        asyncio.run_coroutine_threadsafe(self.bridge.events(events, positions), self._loop)

    async def _watch_world(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), WORLD_CHECK_S)
            if self._stop.is_set():
                return
            try:
                await self._sync_world()
            except Exception:
                log.exception("the CoT picture could not be brought up to date")

    _version: int | None = None

    async def _sync_world(self, *, force: bool = False) -> None:
        """Send the picture when the world changed (or a full refresh is due); a cheap version read otherwise."""
        assert self.bridge is not None
        version = await asyncio.to_thread(self._world_version)
        if not (force or version != self._version or self._refresh_due()):
            return
        scenario, self._version = await asyncio.to_thread(self.m.store.load_world_with_version)
        await self.bridge.world(scenario.objects.values(), scenario.parties)

    def _world_version(self) -> int:
        with self.m.store.read() as tx:
            return tx.version()

    def _refresh_due(self) -> bool:
        assert self.bridge is not None
        last = self.bridge._last_refresh
        return last is None or self.bridge.clock() - last >= self.bridge.refresh_every

    def _log_reads(self, party: str, objects: list[WorldObject]) -> None:
        """Another party's sites and movements sent to ``party``'s tablets: in the owners' access log."""
        with self.m.store.write(world=False) as tx:
            tx.log_access(party=party, member=f"cot:{party}", objects=objects, via="cot", now=self.m.clock.now())
