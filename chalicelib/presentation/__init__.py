"""What people see, in one place: formatting and wording rules, links, templates, API bodies.

notify/, web/, api/ (and app.py) and documents/ depend on this package; it depends only
on domain/, settings and the services' plain data types, never on a surface.
"""
