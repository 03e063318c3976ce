"""crm-risk foundation: settings, the error tree and secret masking, shared by every package (imports nothing of ours)."""
