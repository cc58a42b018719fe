"""The 4D box lives in the domain (``detente.domain.geo.box``); re-exported here for storage code."""

from detente.domain.geo.box import Box4D, footprint_box

__all__ = ["Box4D", "footprint_box"]
