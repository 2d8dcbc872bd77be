"""The root of meshui's own errors.

Every error meshui raises on purpose (the cluster refused or did not answer, a change was
refused, a sync failed) derives from `MeshuiError`, so an entry point can tell meshui's
errors, which carry words for people, from bugs.
"""


class MeshuiError(Exception):
    """An error meshui raises on purpose; its message is meant for people."""
