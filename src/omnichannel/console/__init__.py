"""The operator console: a server-rendered web UI (Jinja2 + HTMX) over every module's services.

Users sign in with a user name and password (``console_users``, separate from API tokens);
pages call the modules' service functions directly, never the HTTP API.
"""
