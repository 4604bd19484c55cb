"""Drift and data-quality monitoring: reference profiles, scores, the sampling monitor."""
