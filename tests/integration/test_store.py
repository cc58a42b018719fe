"""The storage adapter, the same tests on SQLite and on PostGIS (see conftest.py)."""

from __future__ import annotations

import random
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from detente.adapters.storage import Box4D, Store, convert, normalise_url, open_store
from detente.adapters.storage.migrate import downgrade
from detente.adapters.storage.store import Candidate
from detente.adapters.storage.transaction import Tx
from detente.domain.errors import InvalidInput
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Category, Kind, Minima, Party, Role, Scenario, WorldObject

T0 = datetime(2017, 7, 7, 6, 0, tzinfo=UTC)
PLUS3 = timezone(timedelta(hours=3))


def vol(
    geometry: object,
    radius_m: float = 0.0,
    alt: tuple[float | None, float | None] = (None, None),
    time: tuple[datetime | None, datetime | None] = (None, None),
) -> Volume4D:
    return Volume4D(Footprint(geometry, radius_m), AltitudeBand(*alt), TimeWindow(*time))  # type: ignore[arg-type]


def every_kind() -> Scenario:
    """A scenario with every kind and every field set somewhere, built from domain constructors."""
    parties = [
        Party("coalition", "Coalition", Role.MILITARY, {"colour": "#1f77b4"}),
        Party("sy", "Syrian Arab Army", Role.MILITARY),
        Party("ru", "Russian Federation", Role.MILITARY, {"callsign": "RU", "n": [1, 2.5]}),
        Party("unhcr", "UNHCR", Role.HUMANITARIAN),
        Party("un-ocha", "OCHA", Role.SECRETARIAT),
        Party("obs", "Observers", Role.OBSERVER),
    ]
    with_hole = Polygon(
        [(36.0, 34.0), (37.0, 34.0), (37.0, 35.0), (36.0, 35.0), (36.0, 34.0)],
        [[(36.2, 34.2), (36.4, 34.2), (36.4, 34.4), (36.2, 34.2)]],
    )
    objects = [
        WorldObject(
            Kind.NFZ,
            "tanf-55km",
            "coalition",
            (vol(Point(38.63, 33.5), 55_000.0),),
            exempt=frozenset({"humanitarian", "medevac"}),
            extra=({"name": "At Tanf", "source": {"doc": 7}},),
        ),
        WorldObject(
            Kind.NFZ,
            "north",
            "ru",
            (vol(with_hole, alt=(None, 6000.0), time=(None, T0 + timedelta(days=30))),),
            applies_to=frozenset({"sy", "coalition"}),
        ),
        WorldObject(
            Kind.NFZ,
            "nobody",
            "coalition",
            (vol(box(40.0, 35.0, 41.0, 36.0)),),
            applies_to=frozenset(),
        ),
        WorldObject(
            Kind.BOUNDARY,
            "coalition-aor",
            "coalition",
            (vol(MultiPolygon([box(39.0, 33.0, 40.0, 34.0), box(40.5, 33.0, 41.5, 34.1234567890123)])),),
        ),
        WorldObject(
            Kind.LINE,
            "euphrates",
            "agreement-2017",
            (vol(LineString([(38.0, 35.9), (39.5, 35.1), (40.7, 34.5)]), 1000.0),),
            signatories=frozenset({"coalition", "ru"}),
        ),
        WorldObject(
            Kind.SITE,
            "hospital-1",
            "unhcr",
            (vol(Point(36.5, 34.5, 420.0), 500.0),),
            extra=({"type": "hospital", "beds": 120},),
        ),
        WorldObject(
            Kind.MOVEMENT,
            "convoy-7",
            "unhcr",
            (
                vol(
                    MultiLineString([[(36.1, 34.1), (36.9, 34.8)], [(36.9, 34.8, 10.0), (37.2, 35.0, 12.5)]]),
                    2000.0,
                    time=(
                        datetime(2017, 7, 7, 9, 30, 15, 123456, tzinfo=PLUS3),
                        datetime(2017, 7, 8, 9, 30, tzinfo=PLUS3),
                    ),
                ),
            ),
        ),
        WorldObject(
            Kind.INTENT,
            "op-17",
            "coalition",
            (
                vol(box(38.0, 33.0, 39.0, 34.0), alt=(3000.0, 6000.0), time=(T0, T0 + timedelta(hours=3))),
                vol(
                    box(38.5, 33.5, 39.5, 34.5),
                    alt=(0.5, 1234.5678901234567),
                    time=(T0 + timedelta(hours=3), None),
                ),
            ),
            category=Category.AIR,
            purpose="medevac",
            extra=({"callsign": "DUDE 01"}, {"legs": [[1, 2], [3, 4.25]], "note": None}),
        ),
        WorldObject(
            Kind.INTENT,
            "op-18",
            "sy",
            (vol(MultiPolygon([box(37.0, 34.0, 37.1, 34.1)]), alt=(-50.0, 100.0)),),
            category=Category.GROUND,
            extra=({},),
        ),
    ]
    return Scenario(
        name="every kind",
        parties={p.id: p for p in parties},
        objects={o.key: o for o in objects},
        separation={Category.AIR: Minima(5000.0, 300.0), Category.GROUND: Minima(800.0, None)},
        extra={"source": "test", "nested": {"a": [1, 2.5, None]}},
    )


def small_world(name: str = "small") -> Scenario:
    obj = WorldObject(Kind.SITE, "school", "unhcr", (vol(Point(10.0, 10.0), 300.0),))
    return Scenario(name, {"unhcr": Party("unhcr", "UNHCR", Role.HUMANITARIAN)}, {obj.key: obj})


def assert_same_world(loaded: Scenario, expected: Scenario) -> None:
    assert loaded.name == expected.name
    assert loaded.separation == expected.separation
    assert loaded.extra == expected.extra
    assert loaded.parties == expected.parties
    for pid, party in expected.parties.items():
        assert loaded.parties[pid].extra == party.extra  # Party.extra is compare=False
    assert set(loaded.objects) == set(expected.objects)
    for key, obj in expected.objects.items():
        assert loaded.objects[key] == obj, key
    assert loaded == expected


# -- round trip ---------------------------------------------------------------


def test_round_trip_of_every_kind(store: Store) -> None:
    world = every_kind()
    store.replace_world(world)
    loaded = store.load_world()
    assert_same_world(loaded, world)
    assert list(loaded.objects) == list(world.objects), "objects come back in the order stored"


def test_round_trip_keeps_details(store: Store) -> None:
    store.replace_world(every_kind())
    loaded = store.load_world()
    convoy = loaded.objects[(Kind.MOVEMENT, "convoy-7")].volumes[0]
    assert convoy.time.start == datetime(2017, 7, 7, 6, 30, 15, 123456, tzinfo=UTC)
    assert convoy.time.start is not None and convoy.time.start.tzinfo is UTC
    site = loaded.objects[(Kind.SITE, "hospital-1")].volumes[0].footprint.geometry
    assert site.has_z and site.z == 420.0
    op17 = loaded.objects[(Kind.INTENT, "op-17")]
    assert op17.volumes[1].altitude.upper == 1234.5678901234567
    assert op17.extra[1] == {"legs": [[1, 2], [3, 4.25]], "note": None}
    assert loaded.objects[(Kind.NFZ, "tanf-55km")].applies_to is None
    assert loaded.objects[(Kind.NFZ, "nobody")].applies_to == frozenset()
    assert loaded.objects[(Kind.BOUNDARY, "coalition-aor")].extra == ({},), "one extra per volume"
    assert loaded.objects[(Kind.INTENT, "op-18")].extra == ({},)


def test_empty_database_has_an_empty_world(store: Store) -> None:
    world = store.load_world()
    assert (world.name, world.parties, world.objects) == ("", {}, {})
    assert store.world_version() == 0


def test_replace_world_replaces_the_previous_one(store: Store) -> None:
    store.replace_world(every_kind())
    store.replace_world(small_world())
    assert_same_world(store.load_world(), small_world())


def test_reopening_keeps_the_world(url: str) -> None:
    with open_store(url) as first:
        first.replace_world(every_kind())
    with open_store(url) as second:
        second.migrate()  # again: a no-op at head
        assert_same_world(second.load_world(), every_kind())
        assert second.world_version() == 1


# -- atomicity ----------------------------------------------------------------


def test_mismatched_keys_are_refused_before_writing(store: Store) -> None:
    store.replace_world(every_kind())
    broken = small_world("broken")
    site = broken.objects[(Kind.SITE, "school")]
    broken.objects[(Kind.SITE, "school-2")] = site
    with pytest.raises(InvalidInput, match="school-2"):
        store.replace_world(broken)
    assert_same_world(store.load_world(), every_kind())
    assert store.world_version() == 1


def test_failure_midway_keeps_the_previous_world(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A duplicate volume key, hit after the deletes and some inserts, rolls everything back."""
    store.replace_world(every_kind())
    real = convert.volume_rows

    def twice_for_op17(obj: WorldObject) -> list[dict[str, Any]]:
        rows = real(obj)
        return rows + rows if obj.id == "op-17" else rows

    monkeypatch.setattr(convert, "volume_rows", twice_for_op17)
    renamed = every_kind()
    renamed.name = "renamed"
    with pytest.raises(IntegrityError):
        store.replace_world(renamed)
    monkeypatch.undo()
    assert_same_world(store.load_world(), every_kind())
    assert store.world_version() == 1


def test_failure_after_every_insert_rolls_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.replace_world(every_kind())

    def boom(tx: object, version: int) -> None:
        raise RuntimeError("power cut after the inserts")

    # the last step of replace_world, after every insert
    monkeypatch.setattr(Tx, "separation_changed", boom)
    with pytest.raises(RuntimeError, match="power cut"):
        store.replace_world(small_world())
    monkeypatch.undo()
    assert_same_world(store.load_world(), every_kind())
    assert store.world_version() == 1


def test_unstorable_objects_are_refused_before_writing(store: Store) -> None:
    store.replace_world(small_world())
    empty = WorldObject(Kind.NFZ, "empty", "x", ())
    with pytest.raises(InvalidInput, match="at least one volume"):
        store.put_object(empty)
    too_many = WorldObject(Kind.NFZ, "z", "x", (vol(Point(0, 0)),), extra=({}, {}))
    world = small_world()
    world.objects[too_many.key] = too_many
    with pytest.raises(InvalidInput, match="2 extras for 1 volumes"):
        store.replace_world(world)
    assert_same_world(store.load_world(), small_world())
    assert store.world_version() == 1


# -- single objects and the version ---------------------------------------------


def test_put_get_delete(store: Store) -> None:
    store.replace_world(every_kind())
    assert store.get_object(Kind.INTENT, "missing") is None
    op17 = every_kind().objects[(Kind.INTENT, "op-17")]
    assert store.get_object("intent", "op-17") == op17

    shrunk = WorldObject(Kind.INTENT, "op-17", "coalition", op17.volumes[1:], category=Category.AIR)
    store.put_object(shrunk)
    assert store.get_object(Kind.INTENT, "op-17") == shrunk

    new = WorldObject(Kind.SITE, "camp-3", "unhcr", (vol(Point(36.7, 34.9), 800.0),), extra=({"camp": True},))
    store.put_object(new)
    assert store.get_object(Kind.SITE, "camp-3") == new

    assert store.delete_object(Kind.SITE, "camp-3") is True
    assert store.get_object(Kind.SITE, "camp-3") is None
    assert store.delete_object("site", "camp-3") is False

    expected = every_kind()
    expected.objects[shrunk.key] = shrunk
    assert_same_world(store.load_world(), expected)


def test_world_version_counts_changes(store: Store) -> None:
    assert store.world_version() == 0
    store.replace_world(every_kind())
    assert store.world_version() == 1
    obj = WorldObject(Kind.NFZ, "z", "coalition", (vol(box(0, 0, 1, 1)),))
    store.put_object(obj)
    assert store.world_version() == 2
    store.put_object(obj)
    assert store.world_version() == 3
    assert store.delete_object(Kind.NFZ, "z")
    assert store.world_version() == 4
    assert not store.delete_object(Kind.NFZ, "z")
    assert store.world_version() == 4, "nothing deleted, nothing changed"
    with pytest.raises(InvalidInput):
        store.put_object(WorldObject(Kind.NFZ, "bad", "x", ()))
    assert store.world_version() == 4
    world, version = store.load_world_with_version()
    assert version == 4 and world.name == "every kind"


def test_concurrent_writers_get_distinct_versions(url: str) -> None:
    with open_store(url) as setup:
        setup.replace_world(small_world())
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with open_store(url, migrate=False) as store:
                for i in range(8):
                    obj = WorldObject(Kind.SITE, f"w{worker}-{i}", "unhcr", (vol(Point(worker, i), 10.0),))
                    store.put_object(obj)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with open_store(url, migrate=False) as store:
        assert store.world_version() == 1 + 4 * 8
        assert len(store.load_world().objects) == 1 + 4 * 8


# -- the 4D index ----------------------------------------------------------------


def random_world(seed: int, n_volumes: int = 200) -> Scenario:
    """Volumes on coarse grids, so that many boxes, bands and windows touch exactly."""
    rng = random.Random(seed)
    objects: dict[tuple[Kind, str], WorldObject] = {}
    count = 0
    while count < n_volumes:
        kind = rng.choice(list(Kind))
        volumes = []
        for _ in range(rng.randint(1, 3)):
            x, y = rng.randint(-20, 20) / 2, rng.randint(-20, 20) / 2
            shape = rng.random()
            if shape < 0.5:
                geom = box(x, y, x + rng.randint(1, 6) / 2, y + rng.randint(1, 6) / 2)
                radius = 0.0
            elif shape < 0.8:
                geom, radius = Point(x, y), rng.choice([0.0, 100.0, 25_000.0])
            else:
                geom = LineString([(x, y), (x + rng.uniform(-2, 2), y + rng.uniform(-2, 2))])
                radius = rng.choice([0.0, 5000.0])
            lower = rng.choice([None, 0.0, 500.0, 1000.0, 1500.0])
            upper = rng.choice([None, 1000.0, 2000.0, 3000.0])
            if lower is not None and upper is not None and upper <= lower:
                upper = None
            start = rng.choice([None, *(T0 + timedelta(hours=h) for h in range(0, 12, 3))])
            end = rng.choice([None, *(T0 + timedelta(hours=h) for h in range(3, 15, 3))])
            if start is not None and end is not None and end <= start:
                end = None
            volumes.append(vol(geom, radius, (lower, upper), (start, end)))
        obj = WorldObject(kind, f"{kind.value}-{len(objects)}", rng.choice(["a", "b", "c"]), tuple(volumes))
        objects[obj.key] = obj
        count += len(volumes)
    return Scenario(f"random-{seed}", {}, objects)


def random_boxes(seed: int, n: int) -> list[Box4D]:
    rng = random.Random(seed)
    boxes = []
    for _ in range(n):
        x, y = rng.randint(-24, 20) / 2, rng.randint(-24, 20) / 2
        lower = rng.choice([None, 0.0, 1000.0, 2000.0, 2500.0])
        upper = rng.choice([None, 500.0, 1000.0, 1500.0, 4000.0])
        if lower is not None and upper is not None and upper <= lower:
            lower = None
        start = rng.choice([None, *(T0 + timedelta(hours=h) for h in range(0, 15, 3))])
        end = rng.choice([None, *(T0 + timedelta(hours=h) for h in range(3, 18, 3))])
        if start is not None and end is not None and end <= start:
            start = None
        boxes.append(
            Box4D(
                x,
                y,
                x + rng.randint(0, 8) / 2,
                y + rng.randint(0, 8) / 2,
                AltitudeBand(lower, upper),
                TimeWindow(start, end),
            )
        )
    return boxes


def brute_force(world: Scenario, query: Box4D) -> list[Candidate]:
    return sorted((o.kind, o.id, i) for o in world.objects.values() for i, v in enumerate(o.volumes) if query.admits(v))


def test_candidates_match_brute_force(store: Store) -> None:
    world = random_world(7)
    store.replace_world(world)
    boxes = random_boxes(11, 120) + [Box4D.of_volume(v) for o in list(world.objects.values())[:20] for v in o.volumes]
    hits = 0
    for query in boxes:
        got = store.candidates(query)
        assert got == brute_force(world, query), query
        hits += len(got)
    assert hits > 200, "the boxes should find something"


def test_candidates_of_a_volume(store: Store) -> None:
    store.replace_world(every_kind())
    op17 = every_kind().objects[(Kind.INTENT, "op-17")]
    found = store.candidates(op17.volumes[0])
    assert (Kind.INTENT, "op-17", 0) in found
    assert (Kind.NFZ, "tanf-55km", 0) in found, "a circle is found by its radius, not its centre"
    assert (Kind.INTENT, "op-17", 1) not in found, "touching time windows do not overlap"
    assert (Kind.SITE, "hospital-1", 0) not in found


def test_candidates_across_the_antimeridian(store: Store) -> None:
    near = WorldObject(Kind.SITE, "fiji", "unhcr", (vol(Point(179.99, -17.0), 5000.0),))
    store.put_object(near)
    assert store.candidates(Box4D(-180.0, -18.0, -179.5, -16.0)) == [(Kind.SITE, "fiji", 0)]
    assert store.candidates(Box4D(179.0, -18.0, 180.0, -16.0)) == [(Kind.SITE, "fiji", 0)]


def test_query_plan_uses_the_spatial_index(store: Store, url: str) -> None:
    store.replace_world(random_world(3))
    query = Box4D(0.0, 0.0, 1.0, 1.0, AltitudeBand(0.0, 1000.0), TimeWindow(T0, T0 + timedelta(hours=1)))
    if store.dialect == "sqlite":
        plan = store.explain_candidates(query)
        assert "SCAN volume_rtree VIRTUAL TABLE INDEX" in plan, plan
        assert "SEARCH volumes USING INTEGER PRIMARY KEY" in plan, plan
        return
    # A few hundred rows fit in a page or two, where a planner may rightly scan; with
    # sequential scans priced out, the plan shows the query can use the 4D GiST.
    parsed = make_url(url)
    options = f"{parsed.query.get('options', '')} -c enable_seqscan=off"
    forced_url = parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)
    with open_store(forced_url, migrate=False) as forced:
        plan = forced.explain_candidates(query)
    assert "ix_volumes_reach_alt_during" in plan, plan
    assert "reach &&" in plan and "alt &&" in plan and "during &&" in plan, plan


# -- backend specifics ------------------------------------------------------------


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        path = store.engine.url.database
    assert path is not None
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL persists in the file"
    finally:
        raw.close()


def test_sqlite_rtree_follows_every_write(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:

        def check() -> None:
            with store.engine.connect() as conn:
                ids = conn.exec_driver_sql("SELECT id FROM volumes ORDER BY id").scalars().all()
                boxed = conn.exec_driver_sql("SELECT id FROM volume_rtree ORDER BY id").scalars().all()
            assert ids == boxed

        store.replace_world(every_kind())
        check()
        store.put_object(WorldObject(Kind.SITE, "x", "unhcr", (vol(Point(1, 1), 10.0), vol(Point(2, 2)))))
        check()
        store.delete_object(Kind.INTENT, "op-17")
        check()
        with store.engine.begin() as conn:  # a hand-made change, not through the repository
            conn.exec_driver_sql("UPDATE volumes SET min_lon = -1, max_lon = -0.5 WHERE object_id = 'x'")
            conn.exec_driver_sql("DELETE FROM volumes WHERE kind = 'boundary'")
            row = conn.exec_driver_sql(
                "SELECT r.min_lon, r.max_lon, r.min_alt, r.max_t FROM volume_rtree r "
                "JOIN volumes v ON v.id = r.id WHERE v.object_id = 'x' AND v.volume = 0"
            ).one()
        check()
        assert row[0] <= -1.0 and row[1] >= -0.5
        assert row[2] <= -1e37 and row[3] >= 1e37, "open ends are stored as sentinels"


@pytest.mark.postgis
def test_postgis_columns_are_derived(pg_url: str) -> None:
    with open_store(pg_url) as store:
        store.replace_world(every_kind())
        with store.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT object_id, volume, ST_SRID(geom), ST_NDims(geom), GeometryType(geom), "
                    "ST_XMin(reach::box2d), lower(alt), upper(alt), lower(during), upper_inf(during) "
                    "FROM volumes ORDER BY object_id, volume"
                )
            ).all()
            indexes = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'volumes'")).scalars().all()
    by_key = {(r[0], r[1]): r for r in rows}
    assert all(r[2] == 4326 and r[3] == 2 for r in rows), "geometry 2D in WGS84"
    assert by_key[("hospital-1", 0)][4] == "POINT"
    assert by_key[("tanf-55km", 0)][5] < 38.63 - 0.5, "reach includes the 55 km radius"
    op17 = by_key[("op-17", 1)]
    assert float(op17[6]) == 0.0 and float(op17[7]) == 1235.0, "band widened to whole metres"
    assert op17[8] == T0 + timedelta(hours=3) and op17[9] is True
    assert any("gist (reach, alt, during)" in d for d in indexes), indexes
    assert any("gist (geom)" in d for d in indexes), indexes


def test_downgrade_to_base_and_back(url: str) -> None:
    with open_store(url) as store:
        store.replace_world(small_world())
        downgrade(store.engine, "base")
        with store.engine.connect() as conn:
            names = set(store.engine.dialect.get_table_names(conn))
        assert not names & {"volumes", "parties", "scenario_meta", "world_version", "volume_rtree"}
        store.migrate()
        assert store.world_version() == 0
        store.replace_world(small_world())
        assert_same_world(store.load_world(), small_world())


def test_postgresql_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url(None).render_as_string() == "sqlite:///detente.sqlite"
    assert normalise_url("sqlite:////tmp/x.sqlite").drivername == "sqlite"


def test_box_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Box4D(10.0, 0.0, 5.0, 1.0)
    with pytest.raises(ValueError):
        Box4D(0.0, 0.0, 1.0, 91.0)
    assert Box4D.of_volume(vol(MultiLineString([[(0, 0), (1, 1)]]))).max_lon == 1.0
