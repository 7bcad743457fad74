"""Visualisers of videos, masks and chat answers."""
