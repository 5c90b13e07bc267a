"""What each worker process keeps in memory: snapshots of open cases with their area index,
exact volunteer positions, police jurisdictions."""

from backend.world.memory import Memory, Position, PositionOutcome, VolunteerProfile

__all__ = ["Memory", "Position", "PositionOutcome", "VolunteerProfile"]
