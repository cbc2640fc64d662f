"""Runs that survive their process: saved tasks, and one run per thread."""
