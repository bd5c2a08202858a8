"""The version of jpegai-eval: one literal, read by setup.cfg, re-exported by the package
root and recorded by the plugin manager as the built-in plugins' distribution."""

__version__ = "0.1.0"
