"""The rules of creditcycle as pure, batch-shaped functions.

Nothing here touches a database, a broker or the clock: a chunk of states
goes in, decisions come out. ``store`` loads and saves, ``workers`` runs.
"""
