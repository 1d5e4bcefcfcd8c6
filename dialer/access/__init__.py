"""Who may use the API: tokens, roles, the routes each role may use, and
the audit of what was done (issue 17)."""
