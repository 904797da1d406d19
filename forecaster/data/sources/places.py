"""Where weather is fetched: the built-in cities, and a :class:`Place` from a city name or coordinates."""

from __future__ import annotations

from dataclasses import dataclass

from forecaster.errors import ConfigError


@dataclass(frozen=True)
class Place:
    """Where to fetch: a name for files and messages, coordinates (°), and an IANA time zone."""

    name: str
    latitude: float
    longitude: float
    tz: str | None = None


CITIES: dict[str, Place] = {
    p.name: p
    for p in (
        Place("greensboro", 36.07, -79.79, "America/New_York"),
        Place("seattle", 47.61, -122.33, "America/Los_Angeles"),
        Place("new_york", 40.71, -74.01, "America/New_York"),
        Place("chicago", 41.88, -87.63, "America/Chicago"),
        Place("san_francisco", 37.77, -122.42, "America/Los_Angeles"),
        Place("london", 51.51, -0.13, "Europe/London"),
        Place("berlin", 52.52, 13.41, "Europe/Berlin"),
        Place("paris", 48.86, 2.35, "Europe/Paris"),
        Place("tokyo", 35.68, 139.69, "Asia/Tokyo"),
        Place("sydney", -33.87, 151.21, "Australia/Sydney"),
    )
}


def city_key(name: str) -> str:
    """``"New York"`` / ``"new-york"`` -> ``"new_york"``."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def coords_name(latitude: float, longitude: float) -> str:
    """A file-safe name for coordinates, to 0.01° (about 1 km): ``"35.07_-79.79"``."""
    return f"{latitude:.2f}_{longitude:.2f}"


def resolve_place(
    symbol: str | None, latitude: float | None = None, longitude: float | None = None
) -> Place:
    """A built-in city by name, or coordinates (named by ``symbol`` when given)."""
    if latitude is not None and longitude is not None:
        name = city_key(symbol) if symbol else coords_name(latitude, longitude)
        known = CITIES.get(name)
        return Place(name, float(latitude), float(longitude), known.tz if known else None)
    if not symbol:
        raise ConfigError("no place given — pass --city NAME or --lat/--lon")
    place = CITIES.get(city_key(symbol))
    if place is None:
        raise ConfigError(
            f"unknown city '{symbol}' — built-in cities: {', '.join(CITIES)}; "
            "or give coordinates with --lat/--lon"
        )
    return place
