"""The web console: pages over one node's own services, served by the node on loopback.

Server-rendered (jinja2, autoescaped) with live updates pushed as server-sent
events and charts drawn in the browser from JSON; every front-end asset is
vendored under ``static/vendor`` at a pinned version, so it works offline.
"""
