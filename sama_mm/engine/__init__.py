"""Training-engine components: hooks, loops and optimizer wrappers."""
