"""Geometry on the WGS84 sphere: distances between points, and points scattered around one."""

from __future__ import annotations

import math
from collections.abc import Callable


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), km.

    >>> round(distance_km(52.52, 13.40, 48.86, 2.35))
    877
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(a)))


def jitter(
    normal: Callable[[float, float], float], lat: float, lon: float, km: float
) -> tuple[float, float]:
    """A point about ``km`` around (lat, lon): shops are spread over a city, not on one spot.

    ``normal(mean, sd)`` draws the offsets (``numpy``'s ``rng.normal`` or ``random.gauss``).
    """
    dlat = float(normal(0, km / 111.0))
    dlon = float(normal(0, km / (111.0 * max(0.2, math.cos(math.radians(lat))))))
    return round(min(89.9, max(-89.9, lat + dlat)), 5), round(((lon + dlon + 180) % 360) - 180, 5)
