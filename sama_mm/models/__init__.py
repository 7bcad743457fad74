"""Models: the SAMA model, its backbone, neck, head, losses and data preprocessor."""
