"""Data transforms (video loading, frame sampling, resizing, tokenisation, packing)."""
