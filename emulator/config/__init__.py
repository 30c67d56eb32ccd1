"""Wrangler configuration: loading, the typed model, validation and rendering."""
