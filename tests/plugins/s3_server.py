"""moto_server fixtures (filled in by the publish issue)."""
