"""The worker's world: a snapshot of open cases (with their area index) and police
jurisdictions, and the volunteers' exact positions."""

from backend.world.snapshot import (
    Position,
    PositionOutcome,
    Snapshot,
    VolunteerProfile,
    World,
)

# The name before the world was called what it is; kept while other branches move over.
Memory = World

__all__ = ["Memory", "Position", "PositionOutcome", "Snapshot", "VolunteerProfile", "World"]
