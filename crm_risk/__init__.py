"""crm-risk: the relationship-risk pipeline (CLI, settings and the error tree shared by all packages)."""
