"""The simulator: per-site energy balance, jobs, migrations and policies over time."""
