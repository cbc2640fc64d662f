"""Skeleton-of-Thought, the router that picks a way to answer, and the auto agent."""
