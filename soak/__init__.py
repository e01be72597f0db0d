"""The box under load and attack: long-running checks against real components.

``make soak`` (``python -m soak``) builds a real registry publishing a signed feed over
HTTP, a real box served by ``sehat appliance serve`` in its own process, and runs each
check in ``soak.checks`` against them, printing one line per check and a summary block.
``tests/test_soak_short.py`` runs the same checks with ``SoakSettings.short()``.
"""
