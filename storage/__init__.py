"""The ground floor: the encrypted-store driver, durable file writes and key files.

Every package above (registry, appliance, sync agent, the ``sehat`` command) builds on
these; nothing here imports from them.
"""
