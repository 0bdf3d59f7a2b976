"""The model-serving service: FastAPI app and the Redis Streams scoring worker."""
