"""The ``postback`` command line: serve, worker, migrate, render, parameters, test, replay, keys."""
