"""Server-rendered hosted pages: checkout, pay page, store."""
