"""Build the schematic Syria road network of the demo from the shared reference data.

Run ``python -m detente.demo.build_roads [REFERENCE] [OUTPUT]``.  It reads
the GeoNames town points of the reference GeoJSON (see ``SOURCES.md``) and
writes ``roads-syria.geojson`` next to this module: one LineString feature
per stretch of main road, made of *straight segments between towns* along
highway links that are public knowledge.  It is a schematic network for the
demo's "is this route clear?" question, not surveyed road geometry.  A few
places with no town in the reference (the M2's desert stations, the al-Tanf
crossing, Rukban and Ain Issa camps, Maarat al-Numan, Maskanah, as-Sukhnah,
ash-Shaddadi) are named waypoints at approximate public coordinates; their
features say so in a ``note`` property.

The output is committed and shipped in the package, so the demo never needs
the reference data at run time; the same input always gives the same bytes.
The builder refuses a network whose straight segments would cross anywhere
but at a shared town (a crossing becomes a junction in the engine, and the
schematic must not invent one), or that is not one connected network.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import shapely
from shapely.geometry import LineString, box

from detente.demo.build_syria import DEFAULT_REFERENCE, HERE, Reference, read_reference

DEFAULT_OUTPUT = HERE / "roads-syria.geojson"
DECIMALS = 5

SRC_GEONAMES = "GeoNames town points (CC-BY 4.0)"
SRC_REPORTING = "public reporting, approximate"

# ---------------------------------------------------------------------------
# Places: GeoNames ids of towns in the reference, and approximate waypoints.

#: Towns in the reference, by GeoNames id (stable, unlike transliterations).
TOWNS: dict[str, int] = {
    "Damascus": 170654,
    "Harasta": 169897,
    "An Nabk": 173193,
    "Qarah": 166111,
    "Homs": 169577,
    "Tallbisah": 163779,
    "Ar Rastan": 172946,
    "Hama": 170017,
    "Suran": 163915,
    "Khan Shaykhun": 168325,
    "Saraqib": 164816,
    "Aleppo": 170063,
    "Daraa": 170905,
    "Shaykh Miskin": 164328,
    "As Sanamayn": 172469,
    "Al Kiswah": 173598,
    "Latakia": 173576,
    "Jisr ash Shughur": 169023,
    "Jablah": 169304,
    "Baniyas": 171830,
    "Tartus": 163345,
    "Tallkalakh": 163533,
    "Al Bab": 174018,
    "Manbij": 167357,
    "Al Hasakah": 173811,
    "Al Qamishli": 173377,
    "Dayr Hafir": 170785,
    "Al-Tabqa": 172374,
    "Ar Raqqah": 172955,
    "Deir ez-Zor": 170794,
    "Al Mayadin": 173480,
    "Albu Kamal": 174448,
    "Tadmur": 163808,
    "As Salamiyah": 164947,
    "As-Suwayda": 172408,
    "Al Quneitra": 173334,
    "Jayrud": 169113,
    "Al Qaryatayn": 173361,
    "Idlib": 169389,
    "Azaz": 172082,
    "Jarabulus": 169179,
    "Masyaf": 167046,
}

#: Waypoints with no town in the reference: (lon, lat), approximate public coordinates.
WAYPOINTS: dict[str, tuple[float, float]] = {
    "Dumayr": (36.69, 33.64),
    "al-Sabe' Biyar": (37.67, 33.73),
    "al-Tanf": (38.62, 33.50),
    "Rukban camp": (38.70, 33.29),
    "Ain Issa": (38.86, 36.39),
    "Tell Tamer": (40.37, 36.65),
    "Maarat al-Numan": (36.67, 35.65),
    "Maskanah": (38.03, 35.97),
    "as-Sukhnah": (38.87, 34.89),
    "ash-Shaddadi": (40.73, 36.06),
}

#: The stretches of road: (ref or None, name, places in order).
ROADS: list[tuple[str | None, str, list[str]]] = [
    ("M5", "M5 Daraa - Damascus", ["Daraa", "Shaykh Miskin", "As Sanamayn", "Al Kiswah", "Damascus"]),
    ("M5", "M5 Damascus - Homs", ["Damascus", "Harasta", "An Nabk", "Qarah", "Homs"]),
    ("M5", "M5 Homs - Hama", ["Homs", "Tallbisah", "Ar Rastan", "Hama"]),
    ("M5", "M5 Hama - Saraqib", ["Hama", "Suran", "Khan Shaykhun", "Maarat al-Numan", "Saraqib"]),
    ("M5", "M5 Saraqib - Aleppo", ["Saraqib", "Aleppo"]),
    ("M4", "M4 Latakia - Saraqib", ["Latakia", "Jisr ash Shughur", "Saraqib"]),
    ("M4", "M4 Aleppo - Manbij", ["Aleppo", "Al Bab", "Manbij"]),
    ("M4", "M4 Manbij - Ain Issa", ["Manbij", "Ain Issa"]),
    ("M4", "M4 Ain Issa - Tell Tamer", ["Ain Issa", "Tell Tamer"]),
    ("M4", "M4 Tell Tamer - Qamishli", ["Tell Tamer", "Al Qamishli"]),
    (None, "Tell Tamer - Hasakah", ["Tell Tamer", "Al Hasakah"]),
    (None, "Hasakah - Qamishli", ["Al Hasakah", "Al Qamishli"]),
    (None, "Hasakah - Deir ez-Zor", ["Al Hasakah", "ash-Shaddadi", "Deir ez-Zor"]),
    (None, "Aleppo - Tabqa", ["Aleppo", "Dayr Hafir", "Maskanah", "Al-Tabqa"]),
    (None, "Tabqa - Raqqa", ["Al-Tabqa", "Ar Raqqah"]),
    (None, "Raqqa - Ain Issa", ["Ar Raqqah", "Ain Issa"]),
    (None, "Raqqa - Deir ez-Zor", ["Ar Raqqah", "Deir ez-Zor"]),
    (None, "Deir ez-Zor - Albu Kamal", ["Deir ez-Zor", "Al Mayadin", "Albu Kamal"]),
    ("M20", "M20 Homs - Palmyra", ["Homs", "Tadmur"]),
    ("M20", "M20 Palmyra - Deir ez-Zor", ["Tadmur", "as-Sukhnah", "Deir ez-Zor"]),
    ("M1", "M1 Homs - Tartus", ["Homs", "Tallkalakh", "Tartus"]),
    ("M1", "M1 Tartus - Latakia", ["Tartus", "Baniyas", "Jablah", "Latakia"]),
    (None, "Homs - Salamiyah - Hama", ["Homs", "As Salamiyah", "Hama"]),
    (None, "Hama - Masyaf", ["Hama", "Masyaf"]),
    (None, "Damascus - Suwayda", ["Damascus", "As-Suwayda"]),
    (None, "Suwayda - Daraa", ["As-Suwayda", "Daraa"]),
    (None, "Damascus - Quneitra", ["Damascus", "Al Quneitra"]),
    ("M2", "M2 Damascus - Dumayr", ["Damascus", "Dumayr"]),
    ("M2", "M2 Dumayr - al-Tanf", ["Dumayr", "al-Sabe' Biyar", "al-Tanf"]),
    (None, "Track al-Tanf - Rukban camp", ["al-Tanf", "Rukban camp"]),
    (None, "Dumayr - Qaryatayn - Homs", ["Dumayr", "Jayrud", "Al Qaryatayn", "Homs"]),
    (None, "Qaryatayn - Palmyra", ["Al Qaryatayn", "Tadmur"]),
    (None, "Saraqib - Idlib", ["Saraqib", "Idlib"]),
    (None, "Aleppo - Azaz", ["Aleppo", "Azaz"]),
    (None, "Manbij - Jarabulus", ["Manbij", "Jarabulus"]),
]

#: Intent ``ru-strike-tanf`` volume 1 of the demo scenario: the M2 must cross it.
STRIKE_BOX = (38.19, 33.55, 38.31, 33.65)


def _position(ref: Reference, place: str) -> tuple[float, float]:
    if place in TOWNS:
        _, xy = ref.city(TOWNS[place])
        return xy
    return WAYPOINTS[place]


def _source(ref_code: str | None, places: Sequence[str]) -> str:
    along = f"joined along the {ref_code}" if ref_code else "joined along the road"
    what = SRC_GEONAMES if any(p in TOWNS for p in places) else "approximate public coordinates"
    return f"schematic: {what} {along}; straight segments between towns, not surveyed geometry"


def _note(places: Sequence[str]) -> str | None:
    approx = [p for p in places if p in WAYPOINTS]
    if not approx:
        return None
    return f"waypoints at approximate public coordinates ({SRC_REPORTING}): {', '.join(approx)}"


def _feature(ref: Reference, ref_code: str | None, name: str, places: Sequence[str]) -> dict[str, Any]:
    coords = [[round(x, DECIMALS), round(y, DECIMALS)] for x, y in (_position(ref, p) for p in places)]
    props: dict[str, Any] = {"name": name}
    if ref_code:
        props["ref"] = ref_code
    props["via"] = list(places)
    props["source"] = _source(ref_code, places)
    note = _note(places)
    if note:
        props["note"] = note
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}, "properties": props}


def check(features: Sequence[dict[str, Any]]) -> None:
    """Refuse a schematic that invents junctions, is in pieces, or misses the strike box."""
    lines = [LineString(f["geometry"]["coordinates"]) for f in features]
    ends = {tuple(c) for f in features for c in f["geometry"]["coordinates"]}
    for (i, a), (j, b) in itertools.combinations(enumerate(lines), 2):
        meet = a.intersection(b)
        points = shapely.get_coordinates(meet)
        if meet.geom_type not in ("Point", "MultiPoint", "GeometryCollection") and not meet.is_empty:
            raise ValueError(f"{features[i]['properties']['name']} overlaps {features[j]['properties']['name']}")
        stray = [tuple(p) for p in points.tolist() if tuple(p) not in ends]
        if stray:
            names = features[i]["properties"]["name"], features[j]["properties"]["name"]
            raise ValueError(f"{names[0]} crosses {names[1]} at {stray[0]}, not at a town")
    graph: Any = nx.Graph()
    for f in features:
        coords = [tuple(c) for c in f["geometry"]["coordinates"]]
        graph.add_edges_from(itertools.pairwise(coords))
    if nx.number_connected_components(graph) != 1:
        raise ValueError("the road network is not one connected network")
    m2 = next(line for line, f in zip(lines, features, strict=True) if f["properties"]["name"].startswith("M2 Dumayr"))
    if not m2.intersects(box(*STRIKE_BOX)):
        raise ValueError("the M2 misses the ru-strike-tanf strike box")


def build(reference: Path | str = DEFAULT_REFERENCE) -> dict[str, Any]:
    """The road network document built from the reference GeoJSON at ``reference``."""
    ref = read_reference(Path(reference))
    features = [_feature(ref, code, name, places) for code, name, places in ROADS]
    check(features)
    return {
        "type": "FeatureCollection",
        "name": "Syria main roads, schematic (detente demo)",
        "description": (
            "Straight segments between GeoNames town points along main highway links; "
            "not surveyed road geometry. See SOURCES.md."
        ),
        "features": features,
    }


def dumps(doc: dict[str, Any]) -> str:
    """The document as text, one feature per line."""
    head = ",\n".join(
        f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in doc.items() if k != "features"
    )
    features = ",\n".join(f"    {json.dumps(f, ensure_ascii=False)}" for f in doc["features"])
    return f'{{\n{head},\n  "features": [\n{features}\n  ]\n}}\n'


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("reference", nargs="?", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    doc = build(args.reference)
    args.output.write_text(dumps(doc), encoding="utf-8")
    print(f"wrote {args.output} ({len(doc['features'])} roads)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
