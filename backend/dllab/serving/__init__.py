"""Prediction services' domain: SavedModel signatures, per-service OpenAPI documents."""
