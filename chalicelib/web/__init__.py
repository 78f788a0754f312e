"""Server-rendered customer pages (the tracking page). Jinja2 and Babel load on first render only."""
