"""The index on disk: SQLite holds the truth, FAISS the sentence vectors; builds are published atomically."""
