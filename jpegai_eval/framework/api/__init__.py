"""The plugin contract: the types plugin authors implement, the hook specs,
the registries and the plugin manager."""
