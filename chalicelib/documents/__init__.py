"""Invoices, receipts and credit notes: the documents (pure) and their PDF rendering (fpdf2, lazily)."""
