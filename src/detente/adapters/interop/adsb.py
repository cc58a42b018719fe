"""ADS-B in: readsb / dump1090 ``aircraft.json`` snapshots to position reports.

A receiver writes ``{"now": <epoch s>, "aircraft": [{"hex", "flight", "lat",
"lon", "alt_baro", "alt_geom", "seen_pos", ...}]}`` about once a second;
detente reads a snapshot (a file, or the body fetched from a URL) and maps
each aircraft to a party with the feed's mapping table, by ICAO address or
callsign prefix (`feedmap.FeedMapping`).

Altitude: ``alt_geom`` (GNSS height, feet, WGS84 ellipsoid) is preferred
and, with no geoid installed, taken as MSL and flagged ``hae-as-msl``, as
for CoT; otherwise ``alt_baro`` (pressure altitude, feet, standard
atmosphere) is taken as MSL and flagged ``baro``, since the local pressure
is not known.  An aircraft reported ``"ground"`` is a ground track at 0 m
above its unknown field elevation: it is refused rather than guessed.
Positions older than ``max_age_s`` (``seen_pos``) are dropped as stale.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

from detente.adapters.interop.feedmap import ALT_HAE_AS_MSL, ICAO_RE, MAX_ID_CHARS, Dropped, FeedMapping, Report
from detente.domain.errors import InvalidInput, Problem

FEET: Final = 0.3048
#: Largest snapshot accepted, bytes (a busy receiver's is a few hundred kB).
MAX_BYTES: Final = 20 * 1024 * 1024
MAX_AIRCRAFT: Final = 100_000
#: A position not refreshed for this long is not reported.
MAX_AGE_S: Final = 60.0
ALT_BARO: Final = "baro"


@dataclass(frozen=True)
class Snapshot:
    """What one ``aircraft.json`` gave: its reports, and each aircraft it could not use, with the reason."""

    now: float
    reports: list[Report]
    dropped: list[Dropped]


def parse_snapshot(data: bytes | str, mapping: FeedMapping, *, max_age_s: float = MAX_AGE_S) -> Snapshot:
    """Reports from one snapshot; a snapshot that is not ``aircraft.json`` at all is refused whole."""
    if len(data) > MAX_BYTES:
        raise InvalidInput([Problem("adsb-size", f"the snapshot is over {MAX_BYTES} bytes")])
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput([Problem("adsb-json", f"not JSON: {exc}")]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("aircraft"), list):
        raise InvalidInput([Problem("adsb-format", "expected an object with an 'aircraft' list (aircraft.json)")])
    now = doc.get("now")
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now) or now <= 0:
        raise InvalidInput([Problem("adsb-format", "'now' must be the snapshot's time, epoch seconds")])
    aircraft = doc["aircraft"]
    if len(aircraft) > MAX_AIRCRAFT:
        raise InvalidInput([Problem("adsb-size", f"more than {MAX_AIRCRAFT} aircraft in one snapshot")])
    reports: list[Report] = []
    dropped: list[Dropped] = []
    for entry in aircraft:
        found = _aircraft(entry, float(now), mapping, max_age_s)
        if isinstance(found, Report):
            reports.append(found)
        else:
            dropped.append(found)
    return Snapshot(float(now), reports, dropped)


def _number(entry: dict[str, Any], name: str) -> float | None:
    value = entry.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _aircraft(entry: Any, now: float, mapping: FeedMapping, max_age_s: float) -> Report | Dropped:
    if not isinstance(entry, dict):
        return Dropped("invalid", "adsb-aircraft", "an aircraft entry is not an object")
    icao = entry.get("hex")
    if not isinstance(icao, str) or not ICAO_RE.fullmatch(icao.lstrip("~")):
        return Dropped("invalid", "adsb-hex", "'hex' is not a 24-bit ICAO address")
    icao = icao.lstrip("~").upper()
    uid = f"ICAO-{icao}"
    flight = entry.get("flight")
    callsign = flight.strip()[:MAX_ID_CHARS] if isinstance(flight, str) and flight.strip() else None
    lat, lon = _number(entry, "lat"), _number(entry, "lon")
    if lat is None or lon is None:
        return Dropped("ignored", "adsb-no-position", "no position in this snapshot", uid)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return Dropped("invalid", "adsb-position", f"({lon}, {lat}) is out of range", uid)
    age = _number(entry, "seen_pos")
    age = 0.0 if age is None else age
    if age < 0 or age > max_age_s:
        return Dropped("refused", "adsb-stale", f"position {age:g} s old (limit {max_age_s:g} s)", uid)
    if entry.get("alt_baro") == "ground":
        return Dropped("refused", "adsb-ground", "on the ground: its field elevation is not known", uid)
    geometric, baro = _number(entry, "alt_geom"), _number(entry, "alt_baro")
    if geometric is not None:
        alt_m, alt_ref = geometric * FEET, ALT_HAE_AS_MSL
    elif baro is not None:
        alt_m, alt_ref = baro * FEET, ALT_BARO
    else:
        return Dropped("refused", "adsb-altitude", "no altitude (alt_geom or alt_baro)", uid)
    party = mapping.resolve(uid, callsign, icao)
    if party is None:
        return Dropped("unmapped", "adsb-unmapped", f"no party for {icao} ({callsign or 'no callsign'})", uid)
    return Report(uid, party[0], "air", party[1], now - age, lon, lat, alt_m, alt_ref, callsign)
