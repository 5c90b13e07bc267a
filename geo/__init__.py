"""Pure geometry core: case areas, metric matching, proximity, jurisdiction, clustering.

No I/O: station coordinates and routes are passed in. Coordinates are (lon, lat) WGS-84
degrees; times are timezone-aware datetimes; distances are metres.
"""

from geo.area_batch import BatchMatches
from geo.area_index import AreaIndex
from geo.areas import (
    TUANYUAN_SCHEDULE,
    AreaPart,
    CaseArea,
    ExpandingCircle,
    PolygonArea,
    RadiusSchedule,
    circle_polygon,
    corridor_area,
    polygon_area,
)
from geo.clustering import (
    Sighting,
    TrailMoments,
    TravelEstimate,
    assign_incident,
    travel_direction,
)
from geo.distance import (
    CHORD_REL_ERROR_BOUND,
    MAX_RADIUS_M,
    fast_distance_m,
    geodesic_distance_m,
    within_m,
)
from geo.errors import GeoError
from geo.jurisdiction import Jurisdiction, voronoi_jurisdictions
from geo.volunteers import VolunteerIndex

__all__ = [
    "CHORD_REL_ERROR_BOUND",
    "MAX_RADIUS_M",
    "TUANYUAN_SCHEDULE",
    "AreaIndex",
    "AreaPart",
    "BatchMatches",
    "CaseArea",
    "ExpandingCircle",
    "GeoError",
    "Jurisdiction",
    "PolygonArea",
    "RadiusSchedule",
    "Sighting",
    "TrailMoments",
    "TravelEstimate",
    "VolunteerIndex",
    "assign_incident",
    "circle_polygon",
    "corridor_area",
    "fast_distance_m",
    "geodesic_distance_m",
    "polygon_area",
    "travel_direction",
    "voronoi_jurisdictions",
    "within_m",
]
