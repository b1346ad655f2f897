"""Shared infrastructure for actors and scripts: settings, logging, the Redis store."""
