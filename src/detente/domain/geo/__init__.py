"""Geometry for detente: intervals, footprints, geodesic measures, 4D volumes."""
