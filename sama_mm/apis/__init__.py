"""High-level inference APIs (``SAMAInferencer``, ``ChatSession``) live here."""
