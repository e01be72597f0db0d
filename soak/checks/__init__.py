"""The soak's checks, one module each; every ``run(settings, workdir)`` returns its ``CheckResult``(s)."""
