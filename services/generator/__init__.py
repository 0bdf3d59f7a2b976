"""The transaction generator (Faker-based simulator), the replay of real files, and export."""
