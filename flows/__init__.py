"""Prefect flows and tasks only: each task body is one call into `pipeline`."""
