"""Input and output: images, atomic writes, downloads, safe loading, progress."""
