"""Casework documents: pure docx letters for the dunning process (no Flask, no database).

casework maps its rows to ``documents.facts`` types, builds a context with
``documents.contexts.build_context(kind, facts)`` and renders it with
``documents.render.render_docx(kind, context)``; ``documents.lint.lint_text`` checks any
letter or SMS text for banned content.
"""
