"""Clustering of accepted sightings into incidents (many passengers, one person)."""
