"""The run's steps as plain functions (no Prefect here): context, extract, gate + load, score, push, owner Tasks, report."""
