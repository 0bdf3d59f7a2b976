"""The Spark Structured Streaming feature job: Redis source and sink, per-card state."""
