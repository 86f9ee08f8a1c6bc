"""Reporters only word facts: a table for people, one JSON document for programs."""
