"""The case workflow the bureau runs: intake, triage, dispatch, escalation, close.

It uses gis/ for everything spatial and knows nothing of HTTP.
"""
