"""Chalice's entry module of the documents package (a project staged by infra/stacks/packaging.py)."""

from chalicelib.documents_app import app, document_intents, retry_documents

__all__ = ["app", "document_intents", "retry_documents"]
