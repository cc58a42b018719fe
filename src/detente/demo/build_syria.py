"""Build the Syria, July 2017 demo scenario from the shared reference data.

Run ``python -m detente.demo.build_syria [REFERENCE] [OUTPUT]``.  It reads the
reference GeoJSON (Natural Earth admin-1 areas, OurAirports airports,
GeoNames cities, WDBII rivers; see ``SOURCES.md``) and writes
``syria-2017.geojson`` next to this module, a scenario in the format of
SCENARIO.md.  The output is committed and shipped in the package, so the
demo never needs the reference data at run time; this builder only makes the
file reproducible.  The same input always gives the same bytes.

Real geography (borders, the Euphrates, cities, airfields) is taken from the
reference data; the operations of 7 July 2017 are invented for the demo,
loosely modelled on public reporting of the period (see ``SOURCES.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import shapely
from pyproj import Geod
from shapely.geometry import LineString, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

HERE = Path(__file__).resolve().parent
#: Where the reference data sits in a checkout (``../shared`` next to the repo).
DEFAULT_REFERENCE = HERE.parents[2].parent / "shared" / "data" / "syria-reference.geojson"
DEFAULT_OUTPUT = HERE / "syria-2017.geojson"

#: Coordinates are written with 5 decimals (about 1 m).
GRID = 1e-5
DECIMALS = 5

_WGS84 = Geod(ellps="WGS84")

SRC_NE = "Natural Earth 10m admin-1 (public domain)"
SRC_OURAIRPORTS = "OurAirports (public domain)"
SRC_GEONAMES = "GeoNames (CC-BY 4.0)"
SRC_WDBII = "WDBII rivers via GSHHG (LGPL-3.0)"
SRC_REPORTING = "public reporting, approximate"
SRC_INVENTED = "invented for the demo"

MILITARY = ["coalition", "ru", "sdf", "sy", "tr"]

PARTIES = [
    {"id": "coalition", "name": "Counter-ISIS coalition", "role": "military"},
    {"id": "ru", "name": "Russian forces", "role": "military"},
    {"id": "sy", "name": "Syrian government forces", "role": "military"},
    {"id": "sdf", "name": "Syrian Democratic Forces", "role": "military"},
    {"id": "tr", "name": "Turkish forces", "role": "military"},
    {"id": "ocha", "name": "UN humanitarian coordination", "role": "humanitarian"},
    {"id": "observers", "name": "Ceasefire monitoring centre, Amman", "role": "observer"},
]

SEPARATION = {
    "air": {"horizontal_m": 9260, "vertical_m": 305},
    "ground": {"horizontal_m": 1000, "vertical_m": None},
}

DAY = "2017-07-07"


def _t(hhmm: str) -> str:
    """A UTC instant on the demo day, ``HH:MM`` -> ISO 8601 with ``Z``."""
    return f"{DAY}T{hhmm}:00Z"


# ---------------------------------------------------------------------------
# Reading the reference data


class Reference:
    """The reference features, indexed the way the builder looks them up."""

    def __init__(self, doc: dict[str, Any]) -> None:
        feats = doc.get("features", [])
        self.admin1: dict[str, BaseGeometry] = {}
        self.admin1_names: dict[str, str] = {}
        self.cities: dict[int, tuple[str, tuple[float, float]]] = {}
        self.airports: dict[str, tuple[str, tuple[float, float]]] = {}
        self.rivers: list[LineString] = []
        for f in feats:
            p = f["properties"]
            kind = p.get("kind")
            if kind == "admin1":
                self.admin1[p["code_hasc"]] = shape(f["geometry"])
                self.admin1_names[p["code_hasc"]] = p["name"]
            elif kind == "city":
                x, y = f["geometry"]["coordinates"][:2]
                self.cities[int(p["geonameid"])] = (p["name"], (float(x), float(y)))
            elif kind == "airport":
                x, y = f["geometry"]["coordinates"][:2]
                self.airports[p["ident"]] = (p["name"], (float(x), float(y)))
            elif kind == "river":
                self.rivers.append(shape(f["geometry"]))

    def city(self, geonameid: int) -> tuple[str, tuple[float, float]]:
        return self.cities[geonameid]

    def airport(self, ident: str) -> tuple[str, tuple[float, float]]:
        return self.airports[ident]

    def syria(self) -> BaseGeometry:
        """Syria's outline: the union of its admin-1 areas (SY-UNDOF included)."""
        return shapely.union_all(list(self.admin1.values()))


def read_reference(path: Path) -> Reference:
    with open(path, encoding="utf-8") as fh:
        return Reference(json.load(fh))


# GeoNames ids of the cities used (stable, unlike the transliterated names).
RAQQA, TABQA, DEIR_EZ_ZOR, IDLIB, DARAA = 172955, 172374, 170794, 169389, 170905
QAMISHLI, HASAKAH, ALBU_KAMAL = 173377, 173811, 174448
# OurAirports idents.
TIYAS, HAMA_AB, HMEIMIM = "OS72", "OS58", "OSLK"


# ---------------------------------------------------------------------------
# Geometry helpers


def _close(a: Sequence[float], b: Sequence[float], tol_m: float) -> bool:
    _, _, d = _WGS84.inv(a[0], a[1], b[0], b[1])
    return bool(d <= tol_m)


def euphrates_main_stem(ref: Reference, *, gap_m: float = 500.0) -> LineString:
    """The Euphrates main stem, upstream to downstream, as one line.

    The river segments run downstream.  Starting from the segment whose end
    is nearest Albu Kamal (where the river leaves Syria), walk upstream:
    each step takes the one segment ending within ``gap_m`` of the current
    start.  In this data the tributaries (the Khabur and smaller ones) join
    the main stem in the middle of a segment, never at its end, so they are
    not picked up; an ambiguous step raises rather than guess.  The small
    gaps (up to ~300 m) the source leaves between consecutive segments are
    bridged.
    """
    _, albu_kamal = ref.city(ALBU_KAMAL)
    rivers = list(ref.rivers)

    def dist_end(line: LineString) -> float:
        _, _, d = _WGS84.inv(line.coords[-1][0], line.coords[-1][1], albu_kamal[0], albu_kamal[1])
        return float(d)

    current = min(rivers, key=dist_end)
    chain = [current]
    used = {id(current)}
    while True:
        start = current.coords[0]
        found = [r for r in rivers if id(r) not in used and _close(r.coords[-1], start, gap_m)]
        if not found:
            break
        if len(found) > 1:
            raise ValueError(f"ambiguous upstream segment at {start}")
        current = found[0]
        used.add(id(current))
        chain.append(current)
    coords: list[tuple[float, float]] = []
    for seg in reversed(chain):
        pts = [(float(x), float(y)) for x, y in seg.coords]
        if coords and coords[-1] == pts[0]:
            pts = pts[1:]
        coords.extend(pts)
    return LineString(coords)


def _snap(geom: BaseGeometry) -> BaseGeometry:
    """Snap to the 5-decimal grid (keeping the geometry valid) and orient rings."""
    geom = shapely.set_precision(geom, GRID)
    if geom.geom_type == "Polygon":
        return orient(geom, 1.0)
    if geom.geom_type == "MultiPolygon":
        return shapely.MultiPolygon([orient(g, 1.0) for g in geom.geoms])
    return geom


def _largest(geom: BaseGeometry) -> Polygon:
    """The largest polygon of a (multi)polygon: drops slivers left by clipping."""
    if geom.geom_type == "Polygon":
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
    best = max(polys, key=lambda g: g.area)
    rest = sum(g.area for g in polys) - best.area
    if rest > 1e-4 * best.area:
        raise ValueError("clipping left more than slivers")
    return best


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        r = round(value, DECIMALS)
        return 0.0 if r == 0 else r
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def geometry_json(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON of a geometry on the 5-decimal grid; checks it stays valid."""
    geom = _snap(geom)
    out = {"type": geom.geom_type, "coordinates": _rounded(mapping(geom)["coordinates"])}
    back = shape(out)
    if back.is_empty or not back.is_valid:
        raise ValueError(f"invalid {geom.geom_type}: {shapely.is_valid_reason(back)}")
    return out


def point_json(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, DECIMALS), round(lat, DECIMALS)]}


def corridor(points: Iterable[tuple[float, float]], half_width_m: float) -> Polygon:
    """A flight corridor: the lon/lat path grown by ``half_width_m`` (flat ends).

    Grown in a local metric approximation (metres per degree at the mean
    latitude); the corridor is a planning volume, not a measured distance.
    """
    pts = list(points)
    lat0 = sum(y for _, y in pts) / len(pts)
    kx = 111_320.0 * math.cos(math.radians(lat0))
    ky = 110_950.0
    local = LineString([(x * kx, y * ky) for x, y in pts])
    grown = local.buffer(half_width_m, cap_style="flat", join_style="mitre")
    return Polygon([(x / kx, y / ky) for x, y in grown.exterior.coords])


def box(west: float, south: float, east: float, north: float) -> Polygon:
    return shapely.box(west, south, east, north)


# ---------------------------------------------------------------------------
# The scenario


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    props = {k: v for k, v in properties.items() if v is not None}
    return {"type": "Feature", "geometry": geometry, "properties": props}


def zones(ref: Reference) -> list[dict[str, Any]]:
    """No-fly zones: Al-Tanf, the southwest ceasefire area, the UNDOF zone."""
    codes = ("SY.DR", "SY.QU", "SY.SU")
    sw = shapely.union_all([ref.admin1[c] for c in codes]).simplify(0.001, preserve_topology=True)
    names = ", ".join(ref.admin1_names[c] for c in codes)
    return [
        _feature(
            point_json(38.618, 33.505),
            kind="nfz",
            id="tanf-55km",
            party="coalition",
            name="Al-Tanf deconfliction zone (55 km)",
            radius_m=55000,
            altitude_m=[None, None],
            time=["2017-06-01T00:00:00Z", None],
            exempt=["humanitarian"],
            source=f"{SRC_REPORTING} (garrison position and 55 km radius); start date {SRC_INVENTED}",
        ),
        _feature(
            geometry_json(sw),
            kind="nfz",
            id="sw-ceasefire",
            party="observers",
            name="Southwest Syria ceasefire area (Daraa, Quneitra, As-Suwayda)",
            applies_to=MILITARY,
            altitude_m=[None, None],
            time=["2017-07-09T09:00:00Z", None],
            exempt=["humanitarian", "medevac"],
            source=f"{SRC_NE}: union of {names}, simplified to 0.001 deg; "
            f"start 9 July 2017 12:00 Damascus (UTC+3): {SRC_REPORTING}",
        ),
        _feature(
            geometry_json(ref.admin1["SY-UNDOF"]),
            kind="nfz",
            id="undof-golan",
            party="observers",
            name="UNDOF area of separation, Golan",
            applies_to=MILITARY,
            altitude_m=[None, None],
            source=f"{SRC_NE}: SY-UNDOF",
        ),
    ]


def deconfliction_line(ref: Reference, stem: LineString) -> list[dict[str, Any]]:
    """The Euphrates from the Turkish border (Jarabulus) to the Iraqi border."""
    inside = stem.intersection(ref.syria())
    if inside.geom_type == "MultiLineString":
        inside = shapely.line_merge(inside)
    return [
        _feature(
            geometry_json(inside),
            kind="line",
            id="euphrates-line",
            party="coalition",
            name="Euphrates deconfliction line",
            signatories=["coalition", "ru", "sy", "sdf"],
            buffer_m=2000,
            source=f"{SRC_WDBII}: Euphrates main stem clipped to Syria ({SRC_NE}); "
            f"use as the 2017 deconfliction line: {SRC_REPORTING}",
        )
    ]


#: Approximate Euphrates Shield area (early 2017): Azaz - Jarabulus along the
#: border, al-Bab in the south (Tadif, just south of it, left out), the
#: Sajur/Manbij front in the east; Tell Rifaat and Afrin stay outside.  The
#: northern vertices lie in Turkey and are clipped to the border.
EUPHRATES_SHIELD = [
    (36.97, 36.75),
    (38.05, 36.90),
    (38.03, 36.70),
    (37.90, 36.62),
    (37.80, 36.50),
    (37.60, 36.375),
    (37.53, 36.358),
    (37.40, 36.36),
    (37.22, 36.44),
    (37.10, 36.50),
    (37.05, 36.52),
    (36.98, 36.60),
]


def boundaries(ref: Reference, stem: LineString) -> list[dict[str, Any]]:
    """Areas of responsibility: SDF east of the Euphrates, Turkey's Euphrates Shield area."""
    syria = ref.syria()
    # East (left bank) of the river: the stem, then round by the east through
    # Iraq and Turkey back to where the stem starts in Turkey.
    (x0, y0), (_, y1) = stem.coords[0], stem.coords[-1]
    east_ring = [*stem.coords, (43.0, y1 - 0.5), (43.0, 38.0), (x0, 38.0), (x0, y0)]
    sdf = _largest(Polygon(east_ring).intersection(syria))
    tr = _largest(Polygon(EUPHRATES_SHIELD).intersection(syria))
    return [
        _feature(
            geometry_json(sdf),
            kind="boundary",
            id="aor-sdf",
            party="sdf",
            name="SDF area of responsibility east of the Euphrates",
            source=f"{SRC_WDBII} and {SRC_NE} borders; the whole left bank as the SDF's "
            f"area is an approximation ({SRC_REPORTING})",
        ),
        _feature(
            geometry_json(tr),
            kind="boundary",
            id="aor-tr",
            party="tr",
            name="Euphrates Shield area (Azaz - Jarabulus - al-Bab)",
            source=f"{SRC_NE} border; southern and eastern edges hand-drawn ({SRC_REPORTING})",
        ),
    ]


def sites(ref: Reference) -> list[dict[str, Any]]:
    """Camps at their reported positions; hospitals placed at GeoNames city points."""
    out = [
        _feature(
            point_json(38.70, 33.29),
            kind="site",
            id="camp-rukban",
            party="ocha",
            name="Rukban camp",
            site_type="camp",
            radius_m=3000,
            source=f"position: {SRC_REPORTING}; radius {SRC_INVENTED}",
        ),
        _feature(
            point_json(38.86, 36.39),
            kind="site",
            id="camp-ain-issa",
            party="ocha",
            name="Ain Issa camp",
            site_type="camp",
            radius_m=1500,
            source=f"position: {SRC_REPORTING}; radius {SRC_INVENTED}",
        ),
    ]
    hospitals = [
        ("hospital-raqqa", RAQQA, 1000),
        ("hospital-tabqa", TABQA, 800),
        ("hospital-deir-ez-zor", DEIR_EZ_ZOR, 1000),
        ("hospital-idlib", IDLIB, 800),
        ("hospital-daraa", DARAA, 1000),
    ]
    for sid, gid, radius in hospitals:
        name, (x, y) = ref.city(gid)
        out.append(
            _feature(
                point_json(x, y),
                kind="site",
                id=sid,
                party="ocha",
                name=f"Hospital, {name}",
                site_type="hospital",
                radius_m=radius,
                source=f"city point: {SRC_GEONAMES}, geonameid {gid}; "
                f"a hospital at the city point and its radius: {SRC_INVENTED}",
            )
        )
    return out


#: Approximate road alignment Hasakah - Tell Tamer - Ain Issa (M4).
TELL_TAMER = (40.37, 36.65)
AIN_ISSA = (38.86, 36.39)


def movements(ref: Reference) -> list[dict[str, Any]]:
    _, qamishli = ref.city(QAMISHLI)
    _, hasakah = ref.city(HASAKAH)
    route = LineString([qamishli, hasakah, TELL_TAMER, AIN_ISSA])
    return [
        _feature(
            geometry_json(route),
            kind="movement",
            id="convoy-qamishli-ain-issa",
            party="ocha",
            name="Aid convoy Qamishli - Hasakah - Ain Issa camp",
            corridor_m=1000,
            vehicles=12,
            time=[_t("04:00"), _t("12:00")],
            source=f"end points: {SRC_GEONAMES} (Qamishli, Hasakah) and {SRC_REPORTING} "
            f"(Tell Tamer, Ain Issa); the convoy and its timing: {SRC_INVENTED}",
        )
    ]


def _intent(
    iid: str,
    volume: int,
    party: str,
    category: str,
    geom: BaseGeometry,
    altitude: list[int | None],
    start: str,
    end: str,
    name: str,
    source: str,
    purpose: str | None = None,
) -> dict[str, Any]:
    return _feature(
        geometry_json(geom),
        kind="intent",
        id=iid,
        volume=volume,
        party=party,
        name=name,
        category=category,
        purpose=purpose,
        altitude_m=altitude,
        time=[_t(start), _t(end)],
        source=source,
    )


def intents(ref: Reference) -> list[dict[str, Any]]:
    """One day of planned operations, 7 July 2017 (times UTC; Damascus is UTC+3)."""
    _, tiyas = ref.airport(TIYAS)
    _, hama_ab = ref.airport(HAMA_AB)
    _, hmeimim = ref.airport(HMEIMIM)
    invented = SRC_INVENTED
    return [
        # (a) A Syrian Su-22 strike near Ja'Din, south of Tabqa, whose box
        # reaches across the Euphrates: line + boundary (aor-sdf) + separation.
        _intent(
            "sy-su22-tabqa",
            0,
            "sy",
            "air",
            Polygon([(38.32, 35.77), (38.44, 35.75), (38.47, 35.83), (38.43, 35.93), (38.33, 35.92), (38.30, 35.84)]),
            [4000, 7000],
            "15:00",
            "16:30",
            "Su-22 strike near Ja'Din, south of Tabqa",
            f"modelled on the 18 June 2017 Su-22 shoot-down near Ja'Din ({SRC_REPORTING}); this sortie: {invented}",
        ),
        # (e) Coalition close air support just west of it: separation with sy.
        _intent(
            "coalition-cas-tabqa",
            0,
            "coalition",
            "air",
            Polygon([(38.14, 35.70), (38.27, 35.70), (38.28, 35.79), (38.16, 35.81)]),
            [5500, 8500],
            "14:30",
            "17:00",
            "Coalition close air support south-west of Tabqa",
            invented,
        ),
        # (b) Russian strike from Tiyas (T4) into the Al-Tanf zone: transit
        # (outside the zone) then the strike box (inside it): nfz.
        _intent(
            "ru-strike-tanf",
            0,
            "ru",
            "air",
            corridor([tiyas, (38.05, 33.95)], 3000),
            [6000, 9000],
            "08:30",
            "09:15",
            "Transit from Tiyas (T4)",
            f"origin: {SRC_OURAIRPORTS} (Tiyas Air Base); the sortie: {invented}",
        ),
        _intent(
            "ru-strike-tanf",
            1,
            "ru",
            "air",
            box(38.19, 33.55, 38.31, 33.65),
            [5000, 8000],
            "09:00",
            "10:30",
            "Strike box inside the Al-Tanf zone",
            invented,
        ),
        # (c) A strike on Daraa city, two days before the ceasefire takes
        # effect: protected site (hospital), no ceasefire nfz yet.
        _intent(
            "sy-strike-daraa",
            0,
            "sy",
            "air",
            box(36.07, 32.605, 36.14, 32.65),
            [3000, 6000],
            "11:00",
            "12:30",
            "Strike on Daraa city",
            f"fighting in Daraa city in June-July 2017: {SRC_REPORTING}; this strike: {invented}",
        ),
        # (d) SDF ground move across the convoy route east of Ain Issa.
        _intent(
            "sdf-ground-m4",
            0,
            "sdf",
            "ground",
            box(39.22, 36.42, 39.38, 36.51),
            [None, None],
            "08:00",
            "11:00",
            "SDF ground move across the M4 east of Ain Issa",
            invented,
        ),
        # (f) Humanitarian airdrop into the Al-Tanf zone, exempt from it, kept
        # clear of Rukban camp's protection radius.
        _intent(
            "ru-airdrop-tanf",
            0,
            "ru",
            "air",
            corridor([(38.20, 33.80), (38.57, 33.39)], 2500),
            [3000, 4500],
            "06:00",
            "07:30",
            "Humanitarian airdrop: approach",
            invented,
            purpose="humanitarian",
        ),
        _intent(
            "ru-airdrop-tanf",
            1,
            "ru",
            "air",
            box(38.56, 33.34, 38.62, 33.39),
            [1000, 3000],
            "07:00",
            "07:45",
            "Humanitarian airdrop: drop zone north-west of Rukban",
            invented,
            purpose="humanitarian",
        ),
        # (f) Harmless ones.
        _intent(
            "sy-training-hama",
            0,
            "sy",
            "air",
            corridor([hama_ab, (36.45, 34.95)], 8000),
            [2000, 5000],
            "05:00",
            "06:30",
            "Training sortie south-west of Hama Air Base",
            f"airfield: {SRC_OURAIRPORTS} (Hamah Air Base); the sortie: {invented}",
        ),
        _intent(
            "tr-patrol-al-bab",
            0,
            "tr",
            "ground",
            box(37.40, 36.40, 37.50, 36.46),
            [None, None],
            "07:00",
            "15:00",
            "Patrol north-west of al-Bab",
            invented,
        ),
        _intent(
            "ru-cap-hmeimim",
            0,
            "ru",
            "air",
            corridor([hmeimim, (35.80, 35.10)], 10000),
            [6000, 9000],
            "04:00",
            "08:00",
            "Combat air patrol south of Hmeimim",
            f"airfield: {SRC_OURAIRPORTS} (Bassel Al-Assad / Hmeimim); the patrol: {invented}",
        ),
    ]


def build(reference: Path | str = DEFAULT_REFERENCE) -> dict[str, Any]:
    """The scenario document built from the reference GeoJSON at ``reference``."""
    ref = read_reference(Path(reference))
    stem = euphrates_main_stem(ref)
    features = [
        *zones(ref),
        *deconfliction_line(ref, stem),
        *boundaries(ref, stem),
        *sites(ref),
        *movements(ref),
        *intents(ref),
    ]
    return {
        "type": "FeatureCollection",
        "detente": {
            "version": 1,
            "name": "Syria, July 2017",
            "description": (
                "Demo: real geography (Natural Earth, OurAirports, GeoNames, WDBII), "
                "invented operations on 7 July 2017. See SOURCES.md."
            ),
            "parties": PARTIES,
            "separation": SEPARATION,
        },
        "features": features,
    }


def dumps(doc: dict[str, Any]) -> str:
    """The document as text: header indented, one feature per line."""
    meta = doc["detente"]
    meta_lines = []
    for key, value in meta.items():
        if key == "parties":
            parties = ",\n".join(f"      {_dump(p)}" for p in value)
            meta_lines.append(f'    "parties": [\n{parties}\n    ]')
        else:
            meta_lines.append(f"    {_dump(key)}: {_dump(value)}")
    head = ",\n".join(meta_lines)
    features = ",\n".join(f"    {_dump(f)}" for f in doc["features"])
    return (
        f'{{\n  "type": {_dump(doc["type"])},\n  "detente": {{\n{head}\n  }},\n  "features": [\n{features}\n  ]\n}}\n'
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", nargs="?", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    doc = build(args.reference)
    args.output.write_text(dumps(doc), encoding="utf-8")
    print(f"wrote {args.output} ({len(doc['features'])} features)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
