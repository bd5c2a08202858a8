"""Codec implementations (CompressAI and TFC hyperpriors, Pillow baselines), the
``.jai`` bitstream container and quality metrics."""
