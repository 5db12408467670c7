"""The web console: server-rendered pages for people, beside the gateway's JSON API for programs.

Its own nameko component (``web``): its own database of user accounts and
sessions, its own HTTP port. Pages call the services' RPCs with the logged-in
user's principal in the context, exactly as the gateway does with a token, so the
services' access rules apply unchanged and a page adds no rule of its own.
"""
