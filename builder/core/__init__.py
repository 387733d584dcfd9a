"""Shared by every stage: settings, errors, atomic files, the label scheme and its features."""
