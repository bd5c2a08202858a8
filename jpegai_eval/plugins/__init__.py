"""Built-in plugins: thin ``@hookimpl`` wiring, registered like any third-party plugin.

The list of modules is :data:`jpegai_eval.framework.api.plugins.DEFAULT_PLUGINS`.
"""
