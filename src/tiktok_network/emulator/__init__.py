"""The Research API emulator: graphs, quotas, faults, request log."""
