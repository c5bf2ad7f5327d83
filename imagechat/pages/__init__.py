"""Pages: one module per route, each a function returning the page component."""
