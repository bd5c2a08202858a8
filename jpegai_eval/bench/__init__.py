"""The performance measurements behind ``jpegai-eval bench``.

- :mod:`~jpegai_eval.bench.measure` -- the measurements and their targets;
- :mod:`~jpegai_eval.bench.cli` -- the ``bench`` command, added to the CLI by the
  built-in plugin :mod:`jpegai_eval.plugins.bench` through ``register_commands``.

This package sits above ``codecs`` and ``tasks`` (it builds real models to time them)
and below ``plugins``; ``framework`` never imports it.
"""
