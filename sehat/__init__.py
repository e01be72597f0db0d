"""The shell shared by Sehat's parts: the ``sehat`` command, the encrypted store driver, durable files."""
