"""An example third-party jpegai-eval plugin: the ``downsample-png`` codec."""
