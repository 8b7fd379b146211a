"""Parlay."""
