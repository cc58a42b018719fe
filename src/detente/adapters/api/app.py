"""The application factory: the composition root of the HTTP service.

``create_app`` wires a store, a clock and the GeoJSON codec into one
:class:`Mechanism`, mounts the routers and the problem handlers, and (unless
told not to) runs the webhook dispatcher beside the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator

from fastapi import FastAPI

from detente import __version__
from detente.adapters.api import (
    problems,
    routes_accounts,
    routes_agreements,
    routes_audit,
    routes_humanitarian,
    routes_incidents,
    routes_intents,
    routes_monitoring,
    routes_notifications,
    routes_objects,
    routes_observers,
    routes_reports,
)
from detente.adapters.feeds.server_feeds import Feeds, FeedSettings
from detente.adapters.interop.scenario import ScenarioCodec
from detente.adapters.storage import Store, open_store
from detente.services.context import Clock, Mechanism, SystemClock
from detente.services.live import LiveMonitor


def create_app(
    store: Store | str | None = None,
    *,
    clock: Clock | None = None,
    webhooks: bool = True,
    timers: bool | None = None,
    monitor: bool | None = None,
    feeds: FeedSettings | None = None,
    max_body_bytes: int = problems.MAX_BODY_BYTES,
) -> FastAPI:
    """The detente API over ``store`` (a Store or a database URL; default the SQLite file).

    ``webhooks`` runs the webhook dispatcher; ``timers`` (default: as
    ``webhooks``) sends due acknowledgement reminders and escalations every
    minute; ``monitor`` (default: as ``webhooks``) checks position reports
    on a thread of their own, so a request only queues them.  Tests turn
    all three off: timers are driven with an injected clock, and positions
    are checked before ``POST /positions`` returns.  ``feeds`` names the
    CoT, ADS-B and TAK server feeds to run beside the server
    (``detente serve`` reads them from ``DETENTE_*`` variables).
    """
    own_store = not isinstance(store, Store)
    the_store = store if isinstance(store, Store) else open_store(store)
    mechanism = Mechanism(store=the_store, clock=clock or SystemClock(), codec=ScenarioCodec())
    threaded = webhooks if monitor is None else monitor
    live = LiveMonitor(mechanism, sync=not threaded)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        if webhooks:
            tasks.append(asyncio.create_task(_dispatch(the_store, mechanism.clock, stop)))
        if webhooks if timers is None else timers:
            tasks.append(asyncio.create_task(_timers(mechanism, stop)))
        halt = threading.Event()
        worker = threading.Thread(target=live.run, args=(halt,), name="detente-monitor", daemon=True)
        if threaded:
            await asyncio.to_thread(live.warm)
            # Request threads parse reports in Python while the monitor's thread runs many short numpy
            # calls, each taking the GIL back; a shorter switch interval keeps it from waiting 5 ms each time.
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            worker.start()
        running = None
        if feeds is not None and feeds.active:
            running = Feeds(feeds, live, mechanism)
            await running.start()
        try:
            yield
        finally:
            if running is not None:
                await running.stop()
            stop.set()
            halt.set()
            live.wake()
            for task in tasks:
                await task
            if threaded:
                await asyncio.to_thread(worker.join, 10.0)
            if own_store:
                the_store.close()

    app = FastAPI(
        title="detente",
        version=__version__,
        summary="A joint deconfliction mechanism: parties, agreements, intents, need-to-know, notifications.",
        lifespan=lifespan,
    )
    app.state.mechanism = mechanism
    app.state.live = live
    problems.install(app, max_body_bytes)
    app.include_router(routes_accounts.public)
    app.include_router(routes_audit.public)
    for module in (
        routes_accounts,
        routes_objects,
        routes_intents,
        routes_agreements,
        routes_audit,
        routes_notifications,
        routes_humanitarian,
        routes_monitoring,
        routes_incidents,
        routes_observers,
        routes_reports,
    ):
        app.include_router(module.router)
    return app


def app_from_env() -> FastAPI:
    """The app on the database named by ``DETENTE_DB`` (what ``detente serve`` runs in each worker)."""
    return create_app(os.environ.get("DETENTE_DB"), feeds=FeedSettings.from_env())


async def _dispatch(store: Store, clock: Clock, stop: asyncio.Event) -> None:
    import httpx

    from detente.adapters.notify.webhooks import Dispatcher

    async with httpx.AsyncClient(follow_redirects=False) as client:
        await Dispatcher(store, clock, client).run(stop)


#: The interpreter's thread switch interval while the monitor's thread runs (Python's default is 5 ms).
SWITCH_INTERVAL_S = 0.0005

#: How often the server sends due reminders and escalations, seconds.
TIMER_S = 60.0


async def _timers(mechanism: Mechanism, stop: asyncio.Event) -> None:
    """Every minute, send what is due: notice reminders and escalations, incident protocol steps."""
    from starlette.concurrency import run_in_threadpool

    from detente.services import incidents, notices

    while not stop.is_set():
        for sweep in (notices.tick, incidents.tick):
            try:
                await run_in_threadpool(sweep, mechanism)
            except Exception:  # a failed sweep is retried at the next one; the server keeps serving
                logging.getLogger("detente.timers").exception("the %s timers failed", sweep.__module__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TIMER_S)
