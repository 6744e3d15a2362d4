"""Looking back: trends, the digest, charts and the map of items."""
