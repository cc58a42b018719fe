"""What every position feed (CoT, ADS-B) produces: reports, drops, and the feed's party mapping.

A feed knows its tracks by uid, callsign or ICAO address, never by party:
the mechanism decides which party a track belongs to with one mapping table
per feed, and a track no rule covers is dropped (counted, not an error).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from detente.domain.errors import InvalidInput, Problem
from detente.domain.model import PURPOSES

#: Most characters in a uid, callsign, party or type.
MAX_ID_CHARS: Final = 200
#: What ``alt_m`` of a :class:`Report` is: MSL (converted or reported so), or ``hae`` taken as MSL.
ALT_MSL: Final = "msl"
ALT_HAE_AS_MSL: Final = "hae-as-msl"

Row = tuple[str, str, str, str, float, float, float, float]

_PURPOSES: Final = frozenset(PURPOSES)
ICAO_RE: Final = re.compile(r"[0-9A-Fa-f]{6}")


@dataclass(frozen=True)
class Report:
    """One position report of a track, ready for :meth:`Samples.build` (through :meth:`row`)."""

    track: str
    party: str
    category: str
    purpose: str
    t_epoch: float
    lon: float
    lat: float
    alt_m: float
    #: ``"msl"`` (converted with :data:`GEOID_MODEL`) or ``"hae-as-msl"`` (no geoid installed).
    alt_ref: str
    callsign: str | None = None

    def row(self) -> Row:
        """``(track, party, category, purpose, t_epoch_s, lon, lat, alt_m)``."""
        return (self.track, self.party, self.category, self.purpose, self.t_epoch, self.lon, self.lat, self.alt_m)


DropKind = Literal["invalid", "refused", "unmapped", "ignored"]


@dataclass(frozen=True)
class Dropped:
    """An event that gives no report, and why.

    ``kind`` is ``"invalid"`` (not a well-formed, safe CoT event),
    ``"refused"`` (well-formed but not usable: sea track, unknown altitude,
    stale before start, ...), ``"unmapped"`` (no party for it in the feed's
    mapping) or ``"ignored"`` (not a position report: pings, hellos, bits).
    """

    kind: DropKind
    rule: str
    reason: str
    uid: str | None = None

    @property
    def is_error(self) -> bool:
        """Whether the sender sent something broken (rather than something detente does not use)."""
        return self.kind == "invalid"


# ---------------------------------------------------------------------------------------------
# Mapping a feed's tracks to parties


@dataclass(frozen=True)
class Assignment:
    """The party a track belongs to and the purpose it declares."""

    party: str
    purpose: str = "armed"


@dataclass(frozen=True)
class FeedMapping:
    """Which party (and purpose) a feed's tracks belong to: the mapping table of one feed.

    Rules are tried in this order: exact uid, ICAO address (case does not
    matter), callsign prefix (the longest matching prefix wins), then
    ``default``.  With no default, a track no rule covers is unmapped.

    >>> m = FeedMapping("north", by_callsign_prefix={"RU": Assignment("ru"), "RU-MED": Assignment("ru", "medevac")})
    >>> m.resolve("x1", "RU-MED-3")
    ('ru', 'medevac')
    >>> m.resolve("x2", "UA-1") is None
    True
    """

    feed: str
    by_uid: Mapping[str, Assignment] = field(default_factory=dict)
    by_callsign_prefix: Mapping[str, Assignment] = field(default_factory=dict)
    by_icao: Mapping[str, Assignment] = field(default_factory=dict)
    default: Assignment | None = None
    _prefixes: tuple[tuple[str, Assignment], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        rules: list[tuple[str, str, Assignment]] = [("uid", k, a) for k, a in self.by_uid.items()]
        rules += [("callsign prefix", k, a) for k, a in self.by_callsign_prefix.items()]
        rules += [("icao", k, a) for k, a in self.by_icao.items()]
        if self.default is not None:
            rules.append(("default", "", self.default))
        for what, key, a in rules:
            if what != "default" and not (0 < len(key) <= MAX_ID_CHARS):
                problems.append(Problem("cot-mapping", f"{what} key {key!r} must be 1 to {MAX_ID_CHARS} characters"))
            if what == "icao" and not ICAO_RE.fullmatch(key):
                problems.append(Problem("cot-mapping", f"icao key {key!r} is not a 24-bit hex address (6 digits)"))
            if not (isinstance(a.party, str) and 0 < len(a.party) <= MAX_ID_CHARS):
                problems.append(Problem("cot-mapping", f"{what} {key!r}: party must be 1 to {MAX_ID_CHARS} characters"))
            if a.purpose not in _PURPOSES:
                message = f"{what} {key!r}: purpose {a.purpose!r} is not one of {', '.join(PURPOSES)}"
                problems.append(Problem("cot-mapping", message))
        if problems:
            raise InvalidInput(problems)
        object.__setattr__(self, "by_icao", {k.upper(): a for k, a in self.by_icao.items()})
        # longest first, so the first match is the longest prefix
        prefixes = sorted(self.by_callsign_prefix.items(), key=lambda kv: -len(kv[0]))
        object.__setattr__(self, "_prefixes", tuple(prefixes))

    def resolve(self, uid: str, callsign: str | None = None, icao: str | None = None) -> tuple[str, str] | None:
        """``(party, purpose)`` for a track, or ``None`` if no rule covers it."""
        a = self.by_uid.get(uid)
        if a is None:
            icao = icao or _icao_from_uid(uid)
            if icao is not None:
                a = self.by_icao.get(icao.upper())
        if a is None and callsign:
            a = next((rule for prefix, rule in self._prefixes if callsign.startswith(prefix)), None)
        if a is None:
            a = self.default
        return None if a is None else (a.party, a.purpose)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> FeedMapping:
        """A mapping from its table form (JSON or TOML, see docs/cot.md).

        ``{"feed": "north", "uid": {"ANDROID-1": {"party": "ua"}},
        "callsign_prefix": {"RU-": {"party": "ru", "purpose": "armed"}},
        "icao": {"4CA1FA": {"party": "ie", "purpose": "humanitarian"}},
        "default": null}``; ``purpose`` defaults to ``armed``.
        """
        problems: list[Problem] = []

        def assignment(where: str, value: Any) -> Assignment | None:
            if not isinstance(value, Mapping) or not isinstance(value.get("party"), str):
                problems.append(Problem("cot-mapping", f"{where} must be an object with a string 'party'"))
                return None
            unknown = set(value) - {"party", "purpose"}
            if unknown:
                problems.append(Problem("cot-mapping", f"{where} has unknown members {sorted(unknown)}"))
            purpose = value.get("purpose", "armed")
            if not isinstance(purpose, str):
                problems.append(Problem("cot-mapping", f"{where}: purpose must be a string"))
                return None
            return Assignment(value["party"], purpose)

        def table(name: str) -> dict[str, Assignment]:
            raw = obj.get(name) or {}
            if not isinstance(raw, Mapping):
                problems.append(Problem("cot-mapping", f"{name!r} must be an object"))
                return {}
            out = {}
            for key, value in raw.items():
                a = assignment(f"{name} {key!r}", value)
                if a is not None:
                    out[str(key)] = a
            return out

        if not isinstance(obj, Mapping):
            raise InvalidInput([Problem("cot-mapping", "a feed mapping must be an object")])
        unknown = set(obj) - {"feed", "uid", "callsign_prefix", "icao", "default"}
        if unknown:
            problems.append(Problem("cot-mapping", f"unknown members {sorted(unknown)}"))
        feed = obj.get("feed")
        if not isinstance(feed, str) or not feed:
            problems.append(Problem("cot-mapping", "'feed' must be a non-empty string"))
        by_uid, by_prefix, by_icao = table("uid"), table("callsign_prefix"), table("icao")
        default = None if obj.get("default") is None else assignment("default", obj["default"])
        try:
            mapping = cls(str(feed), by_uid, by_prefix, by_icao, default)
        except InvalidInput as exc:
            problems.extend(exc.problems)
        if problems:
            raise InvalidInput(problems)
        return mapping


def _icao_from_uid(uid: str) -> str | None:
    """The ICAO address in a uid ``ICAO-<hex>`` (the ADS-B gateways' convention), if any."""
    if len(uid) == 11 and uid[:5].upper() == "ICAO-" and ICAO_RE.fullmatch(uid[5:]):
        return uid[5:].upper()
    return None
