"""The pure domain of gal_exec: the vocabulary, order states, fills, ids, time, retries, breakers,
limits, the order lifecycle model and the desk that runs every order of a signal pipeline.

Nothing here starts a thread, opens a socket or reads the machine's clock (`ManualClock` holds a
lock only so tests may advance it from another thread), so all of it is testable without actors.
Import from the submodules; this package exports nothing of its own.
"""
