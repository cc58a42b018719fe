"""Build a simulated day of tracks over the Syria, July 2017 demo scenario.

Run ``python -m detente.demo.build_tracks [SCENARIO] [OUTPUT]``.  It reads the
demo scenario (``syria-2017.geojson``, for the convoy's notified route and
the hospital at Ar Raqqah) and writes ``syria-2017-tracks.csv`` next to this
module: position reports in the CSV of SCENARIO.md
(``track,party,category,purpose,t,lon,lat,alt_m``), every 10 s for aircraft
and every 30 s for ground movements, in time order, on 7 July 2017.

Every track is **invented** for the demo: a flight plan of timed 4D
waypoints (straight legs, circular orbits, holds), sampled on a fixed grid
of instants and interpolated linearly in longitude, latitude and altitude.
There is no randomness, so the same scenario always gives the same bytes.
The airfields are at their OurAirports positions (public domain); the
operations are modelled loosely on public reporting of the period (see
``SOURCES.md``).  The builder refuses a plan whose legs fly or drive at an
unrealistic speed for the track.

The tracks, and what the monitor (SEMANTICS.md, "Conflicts found while
monitoring tracks") finds in them:

* ``coalition-f15e-tabqa``: coalition close air support over the Tabqa
  area, in from Iraq south of the Euphrates, orbiting west of Ja'Din; it
  descends to shadow the Su-22 on its way home: **separation** with it.
* ``coalition-kc135-iraq``: a tanker racetrack over western Iraq, outside
  Syria: nothing.  (Its purpose is ``unknown``, the only military one left
  besides ``armed``; the monitor would hold it to proximity like an armed one.)
* ``ru-su24-tanf``: the Russian strike of intent ``ru-strike-tanf``, from
  Tiyas (T4) into the Al-Tanf zone: **incursion** (``tanf-55km``).
* ``ru-il76-airdrop``: a humanitarian airdrop from Hmeimim north-west of
  Rukban camp, inside the Al-Tanf zone: nothing (the zone exempts the
  humanitarian purpose).
* ``ru-su35-cap``: a combat air patrol south of Hmeimim: nothing.
* ``sy-su22-jadin``: a Syrian Su-22 from T4 crossing the Euphrates line near
  Ja'Din into the SDF's area: **boundary crossing** (``aor-sdf``; the
  monitor has no "line crossing" event, so crossing the line shows as
  entering the SDF's area of responsibility), and **separation** with the
  coalition flight.
* ``sdf-patrol-raqqa``: an armed SDF ground patrol passing the hospital on
  the north side of Ar Raqqah: **proximity** (``hospital-raqqa``).
* ``ocha-convoy-ain-issa``: the notified OCHA convoy along its route
  Qamishli - Hasakah - Tell Tamer - Ain Issa in its window: no proximity
  (humanitarian), but a **boundary crossing** of ``aor-sdf``, since the rule
  concerns a sample of *any* party inside another party's boundary.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SCENARIO = HERE / "syria-2017.geojson"
DEFAULT_OUTPUT = HERE / "syria-2017-tracks.csv"

#: Midnight UTC on the demo day; waypoint times are seconds after it.
DAY = datetime(2017, 7, 7, tzinfo=UTC)
COLUMNS = ("track", "party", "category", "purpose", "t", "lon", "lat", "alt_m")
#: Seconds between samples.
AIR_STEP_S = 10
GROUND_STEP_S = 30
#: Coordinates are written with 5 decimals (about 1 m), altitudes in whole metres.
DECIMALS = 5

# Airfields (OurAirports, public domain), with their elevation in metres.
TIYAS = (37.6299, 34.5226, 548.0)  # OS72, Tiyas (T4) Air Base
HMEIMIM = (35.9487, 35.4011, 48.0)  # OSLK, Bassel Al-Assad / Hmeimim

Point3 = tuple[float, float, float]
#: ``(t, lon, lat, alt_m)``, ``t`` in seconds after midnight UTC on the demo day.
Waypoint = tuple[float, float, float, float]


def hms(text: str) -> float:
    """``HH:MM`` or ``HH:MM:SS`` on the demo day, as seconds after midnight UTC."""
    parts = [int(p) for p in text.split(":")]
    h, m, s = [*parts, 0][:3]
    return float(h * 3600 + m * 60 + s)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Horizontal distance between two lon/lat points, in a local flat approximation (planning only)."""
    lat0 = math.radians((a[1] + b[1]) / 2.0)
    dx = (b[0] - a[0]) * 111_320.0 * math.cos(lat0)
    dy = (b[1] - a[1]) * 110_950.0
    return math.hypot(dx, dy)


def offset(p: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    """The point ``east_m`` east and ``north_m`` north of ``p`` (same flat approximation)."""
    kx = 111_320.0 * math.cos(math.radians(p[1]))
    return (p[0] + east_m / kx, p[1] + north_m / 110_950.0)


@dataclass
class Plan:
    """A flight or drive plan: timed waypoints ``(t, lon, lat, alt_m)``, straight between them."""

    track: str
    party: str
    category: str
    purpose: str
    #: Slowest and fastest realistic speed on a moving leg, m/s.
    speeds: tuple[float, float]
    #: Fastest realistic climb or descent, m/s.
    climb: float = 50.0
    waypoints: list[Waypoint] = field(default_factory=list)

    def start(self, at: str | float, p: Point3) -> Plan:
        t = hms(at) if isinstance(at, str) else at
        self.waypoints = [(t, p[0], p[1], p[2])]
        return self

    @property
    def here(self) -> Waypoint:
        return self.waypoints[-1]

    def fly(self, lon: float, lat: float, alt: float, speed: float) -> Plan:
        """A straight leg to ``(lon, lat, alt)`` at ``speed`` m/s (horizontal)."""
        t, x, y, _ = self.here
        self.waypoints.append((t + metres((x, y), (lon, lat)) / speed, lon, lat, alt))
        return self

    def arrive(self, lon: float, lat: float, alt: float, at: float) -> Plan:
        """A straight leg to ``(lon, lat, alt)``, arriving at ``at`` (the speed follows)."""
        if at <= self.here[0]:
            raise ValueError(f"{self.track}: arrival at {at} is not after {self.here[0]}")
        self.waypoints.append((at, lon, lat, alt))
        return self

    def hold(self, seconds: float) -> Plan:
        """Stay where it is (a ground movement's halt)."""
        t, x, y, a = self.here
        self.waypoints.append((t + seconds, x, y, a))
        return self

    def orbit(
        self,
        centre: tuple[float, float],
        radius_m: float,
        alt: float,
        speed: float,
        *,
        until: float,
        clockwise: bool = True,
    ) -> Plan:
        """Join a circle round ``centre`` where the current position points, and fly round it until ``until``."""
        _, x, y, _ = self.here
        kx = 111_320.0 * math.cos(math.radians(centre[1]))
        angle = math.atan2((y - centre[1]) * 110_950.0, (x - centre[0]) * kx)

        def on_circle(a: float) -> tuple[float, float]:
            return offset(centre, radius_m * math.cos(a), radius_m * math.sin(a))

        self.fly(*on_circle(angle), alt, speed)
        step = math.radians(10.0) * (-1.0 if clockwise else 1.0)
        dt = radius_m * abs(step) / speed
        while self.here[0] + dt <= until:
            angle += step
            self.arrive(*on_circle(angle), alt, self.here[0] + dt)
        if until > self.here[0]:  # the last part of a step, ending exactly at ``until``
            angle += step * (until - self.here[0]) / dt
            self.arrive(*on_circle(angle), alt, until)
        return self

    def racetrack(self, a: tuple[float, float], b: tuple[float, float], alt: float, speed: float, laps: int) -> Plan:
        """Fly ``a`` -> ``b`` -> ``a`` ``laps`` times (the turns are left out: a tanker's long legs)."""
        for _ in range(laps):
            self.fly(*b, alt, speed).fly(*a, alt, speed)
        return self

    def position(self, t: float) -> Point3:
        """Where the plan is at ``t`` (linear between waypoints)."""
        w = self.waypoints
        if not w[0][0] <= t <= w[-1][0]:
            raise ValueError(f"{self.track}: {t} is outside the plan")
        for (t0, x0, y0, a0), (t1, x1, y1, a1) in itertools.pairwise(w):
            if t0 <= t <= t1:
                f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                return (x0 + f * (x1 - x0), y0 + f * (y1 - y0), a0 + f * (a1 - a0))
        raise AssertionError("unreachable")

    def check(self) -> None:
        """Every moving leg at a realistic speed and rate of climb; time always goes forward."""
        low, high = self.speeds
        for (t0, x0, y0, a0), (t1, x1, y1, a1) in itertools.pairwise(self.waypoints):
            if t1 <= t0:
                raise ValueError(f"{self.track}: waypoint times must increase ({t0} then {t1})")
            if abs(a1 - a0) / (t1 - t0) > self.climb:
                raise ValueError(f"{self.track}: climbs or descends at {abs(a1 - a0) / (t1 - t0):.0f} m/s")
            d = metres((x0, y0), (x1, y1))
            if d == 0.0 and self.category == "ground":
                continue  # a halt
            v = d / (t1 - t0)
            if not low <= v <= high:
                raise ValueError(f"{self.track}: leg at {v:.0f} m/s, outside {low:.0f}-{high:.0f} m/s")

    def samples(self) -> list[Waypoint]:
        """``(t, lon, lat, alt)`` at every multiple of the step from the plan's start to its end."""
        step = AIR_STEP_S if self.category == "air" else GROUND_STEP_S
        first, last = self.waypoints[0][0], self.waypoints[-1][0]
        out = []
        k = math.ceil(first / step)
        while k * step <= last:
            t = float(k * step)
            out.append((t, *self.position(t)))
            k += 1
        return out


# ---------------------------------------------------------------------------
# The day (times UTC; Damascus is UTC+3)


def su22() -> Plan:
    """A Syrian Su-22 from T4 to Ja'Din; it crosses the Euphrates (Lake Assad) into the SDF's area and back."""
    p = Plan("sy-su22-jadin", "sy", "air", "armed", (120.0, 300.0))
    p.start("15:05", TIYAS)
    p.fly(37.75, 34.75, 2500.0, 160.0)  # climb-out
    p.fly(38.30, 35.62, 4500.0, 230.0)
    p.fly(38.40, 35.78, 4500.0, 230.0)  # Ja'Din
    p.fly(38.43, 35.95, 4500.0, 230.0)  # across the lake, into the SDF's area
    p.fly(38.33, 35.965, 4500.0, 230.0)
    p.fly(38.27, 35.84, 4500.0, 230.0)  # back across
    p.fly(38.24, 35.78, 4500.0, 230.0)
    p.fly(37.75, 34.75, 3000.0, 230.0)  # home
    p.fly(*TIYAS, 150.0)
    return p


#: The coalition flight's orbit, west of Ja'Din (inside intent ``coalition-cas-tabqa``).
CAS_ORBIT = (38.21, 35.755)


def cas(su: Plan) -> Plan:
    """Coalition close air support in from Iraq; it leaves its orbit to shadow the Su-22 on its way home."""
    p = Plan("coalition-f15e-tabqa", "coalition", "air", "armed", (120.0, 300.0))
    p.start("14:00", (41.30, 33.90, 7600.0))  # over Iraq, south-west of the Euphrates
    p.fly(40.30, 34.60, 7600.0, 230.0)  # into Syria, well south of Albu Kamal
    p.fly(39.60, 35.30, 7600.0, 230.0)
    p.fly(38.60, 35.60, 6700.0, 230.0)
    # The Su-22 turns home at (38.24, 35.78); meet it 2 km to its west, 150 m above it, then fly alongside.
    (tu0, *_), (tu1, *_) = _leg_times(su, (38.24, 35.78), (37.75, 34.75))
    meet = su.position(tu0 + 30.0)
    join = offset(meet[:2], -2000.0, 0.0)
    # Leave the orbit at the latest whole 10 s from which the join takes at least 230 m/s.
    probe = dataclasses.replace(p, waypoints=list(p.waypoints))
    probe.orbit(CAS_ORBIT, 8000.0, 6100.0, 180.0, until=tu0 + 30.0)
    leave = next(
        tu0 + 30.0 - k for k in range(30, 900, 10) if metres(probe.position(tu0 + 30.0 - k)[:2], join) / k <= 230.0
    )
    p.orbit(CAS_ORBIT, 8000.0, 6100.0, 180.0, until=leave)
    p.arrive(*join, meet[2] + 150.0, tu0 + 30.0)
    alongside = su.position(tu0 + 120.0)
    p.arrive(*offset(alongside[:2], -2000.0, 0.0), alongside[2] + 150.0, tu0 + 120.0)
    assert tu1 > tu0 + 120.0
    # Break away north-west and climb back to the orbit until the sortie ends.
    p.fly(*offset(alongside[:2], -20000.0, 12000.0), 6100.0, 200.0)
    p.orbit(CAS_ORBIT, 8000.0, 6100.0, 180.0, until=hms("16:40"))
    p.fly(38.60, 35.60, 6700.0, 230.0)
    p.fly(39.60, 35.30, 7600.0, 230.0)
    p.fly(40.30, 34.60, 7600.0, 230.0)
    p.fly(41.30, 33.90, 7600.0, 230.0)
    return p


def _leg_times(plan: Plan, a: tuple[float, float], b: tuple[float, float]) -> tuple[Waypoint, Waypoint]:
    """The waypoints of ``plan`` at ``a`` and then ``b``."""
    w = plan.waypoints
    for w0, w1 in itertools.pairwise(w):
        if (w0[1], w0[2]) == a and (w1[1], w1[2]) == b:
            return w0, w1
    raise ValueError(f"{plan.track}: no leg {a} -> {b}")


def tanker() -> Plan:
    """A coalition tanker on a racetrack over western Iraq, north of the Euphrates there (outside Syria)."""
    p = Plan("coalition-kc135-iraq", "coalition", "air", "unknown", (180.0, 260.0), climb=20.0)
    a, b = (41.75, 34.45), (42.15, 34.95)
    p.start("12:30", (42.35, 34.20, 8500.0))  # on station from the south-east
    p.fly(*a, 8500.0, 220.0)
    p.racetrack(a, b, 8500.0, 220.0, laps=30)
    p.fly(42.35, 34.20, 8500.0, 220.0)
    return p


def tanf_strike() -> Plan:
    """The Russian strike of intent ``ru-strike-tanf``: T4, south-east into the Al-Tanf zone, and back."""
    p = Plan("ru-su24-tanf", "ru", "air", "armed", (120.0, 300.0))
    p.start("08:30", TIYAS)
    p.fly(37.72, 34.40, 3000.0, 150.0)  # climb-out
    p.fly(38.05, 33.95, 7000.0, 220.0)  # end of the filed transit corridor
    p.fly(38.25, 33.60, 6500.0, 220.0)  # the strike box, inside the zone
    p.orbit((38.25, 33.60), 4000.0, 6500.0, 200.0, until=hms("09:25"))
    p.fly(38.05, 33.95, 7000.0, 220.0)
    p.fly(37.72, 34.40, 3000.0, 220.0)
    p.fly(*TIYAS, 150.0)
    return p


def airdrop() -> Plan:
    """A Russian Il-76 humanitarian airdrop north-west of Rukban camp, inside the Al-Tanf zone."""
    p = Plan("ru-il76-airdrop", "ru", "air", "humanitarian", (90.0, 230.0), climb=20.0)
    p.start("06:05", HMEIMIM)
    p.fly(36.30, 35.20, 3000.0, 120.0)  # climb-out
    p.fly(37.40, 34.40, 6000.0, 170.0)
    p.fly(38.20, 33.80, 4000.0, 170.0)  # the approach of intent ru-airdrop-tanf
    p.fly(38.57, 33.39, 1500.0, 130.0)  # the drop zone
    p.orbit((38.59, 33.365), 3000.0, 1500.0, 100.0, until=hms("07:15"))
    p.fly(38.20, 33.80, 4000.0, 150.0)
    p.fly(37.40, 34.40, 6000.0, 170.0)
    p.fly(36.30, 35.20, 3000.0, 170.0)
    p.fly(*HMEIMIM, 110.0)
    return p


def cap() -> Plan:
    """A Russian combat air patrol south of Hmeimim (intent ``ru-cap-hmeimim``)."""
    p = Plan("ru-su35-cap", "ru", "air", "armed", (120.0, 300.0))
    p.start("04:00", HMEIMIM)
    p.fly(35.70, 35.10, 7000.0, 180.0)  # climb-out to the south-west
    p.orbit((35.87, 35.25), 12000.0, 7500.0, 200.0, until=hms("07:30"))
    p.fly(36.30, 35.60, 3000.0, 200.0)  # descent, round to the north-east
    p.fly(*HMEIMIM, 130.0)
    return p


def patrol(hospital: tuple[float, float]) -> Plan:
    """An armed SDF patrol from north of Ar Raqqah along the city's north side, past its hospital."""
    p = Plan("sdf-patrol-raqqa", "sdf", "ground", "armed", (2.0, 20.0))
    base = (39.02, 36.10, 280.0)
    p.start("13:00", base)
    p.fly(39.03, 35.975, 260.0, 9.0)
    p.fly(*offset(hospital, 1500.0, 600.0), 255.0, 5.0)  # into the town
    p.fly(*offset(hospital, -1500.0, 600.0), 255.0, 4.0)  # 600 m north of the hospital
    p.fly(38.95, 35.965, 255.0, 5.0)
    p.hold(900.0)  # a checkpoint
    p.fly(38.97, 36.10, 280.0, 9.0)
    p.fly(*base, 9.0)
    return p


def convoy(route: Sequence[tuple[float, float]]) -> Plan:
    """The OCHA convoy along its notified route, Qamishli - Hasakah - Tell Tamer - Ain Issa, 04:30 to about 11:00."""
    qamishli, hasakah, tell_tamer, ain_issa = route
    p = Plan("ocha-convoy-ain-issa", "ocha", "ground", "humanitarian", (5.0, 20.0))
    p.start("04:30", (*qamishli, 455.0))
    p.fly(*hasakah, 300.0, 11.0)
    p.hold(1800.0)  # joining the Hasakah trucks
    p.fly(*tell_tamer, 300.0, 11.0)
    p.hold(900.0)
    p.fly(*ain_issa, 290.0, 11.0)
    return p


# ---------------------------------------------------------------------------
# Reading the scenario, writing the CSV


def _feature(doc: dict[str, Any], fid: str) -> dict[str, Any]:
    for f in doc["features"]:
        if f["properties"].get("id") == fid:
            feature: dict[str, Any] = f
            return feature
    raise KeyError(fid)


def plans(scenario: dict[str, Any]) -> list[Plan]:
    """Every track of the day, checked."""
    route = [(float(x), float(y)) for x, y in _feature(scenario, "convoy-qamishli-ain-issa")["geometry"]["coordinates"]]
    hx, hy = _feature(scenario, "hospital-raqqa")["geometry"]["coordinates"]
    su = su22()
    out = [cas(su), tanker(), tanf_strike(), airdrop(), cap(), su, patrol((float(hx), float(hy))), convoy(route)]
    for p in out:
        p.check()
    return out


def rows(scenario: dict[str, Any]) -> list[tuple[str, ...]]:
    """The CSV rows (without the header), in time order, then by track."""
    out: list[tuple[float, tuple[str, ...]]] = []
    for p in plans(scenario):
        for t, lon, lat, alt in p.samples():
            when = (DAY + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")
            cells = (p.track, p.party, p.category, p.purpose, when, _num(lon), _num(lat), str(round(alt)))
            out.append((t, cells))
    out.sort(key=lambda r: (r[0], r[1][0]))
    return [cells for _, cells in out]


def _num(value: float) -> str:
    text = f"{value:.{DECIMALS}f}"
    return "0.00000" if text == "-0.00000" else text


def build(scenario: Path | str = DEFAULT_SCENARIO) -> str:
    """The CSV text for the demo scenario at ``scenario``."""
    with open(scenario, encoding="utf-8") as fh:
        doc = json.load(fh)
    lines = [",".join(COLUMNS), *(",".join(r) for r in rows(doc))]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    text = build(args.scenario)
    with open(args.output, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    print(f"wrote {args.output} ({text.count(chr(10)) - 1} position reports)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
