"""The case lifecycle: states, legal moves, holders by tier, escalation, views.

Modules by concern (import them directly; this package imports nothing, so
intake can read the states without pulling in the workflow):

- `states`: the states and the one table of legal transitions (docs/lifecycle.md);
- `holders`: who holds a case by tier, and who is next when it is overdue;
- `transitions`: taking one move, in one transaction with its event;
- `escalation`: the sweeper that moves overdue cases up a tier;
- `notify`: notification records and the `Notifier` interface (a log adapter);
- `views`: what staff see of cases (scope, masking, ETag), listings;
- `docs`: writes docs/lifecycle.md from the table.
"""
