"""Conversational recommendation agent: sessions, turns and tools over the catalog.

Filled by step 5; the app exists so migrations and settings are stable from the start.
"""
