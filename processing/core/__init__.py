"""The pure core: decisions over account state, with no I/O, no await and no clock reads.

Vocabulary (see DESIGN.md): a *hold* reserves points for a pending purchase and resolves exactly
once; a *lock* is mutual exclusion and is never called a hold; an *operation* is a business event
and a *transaction* is a database transaction.
"""
