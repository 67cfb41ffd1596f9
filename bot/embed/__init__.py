"""Text into vectors: sentence-transformers at build time, an ONNX export of it at query time."""
