"""Docker engine fixtures (filled in by the Docker issue)."""
