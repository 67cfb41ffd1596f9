"""A question into ranked passages: dense and lexical search, fused by reciprocal rank."""
