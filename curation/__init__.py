"""RAG-based curation: generated collections, enrichment and explanations, reviewed before publishing.

Filled by step 4; the app exists so migrations and settings are stable from the start.
"""
