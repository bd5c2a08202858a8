"""Tasks: MINC-2500 material recognition (with its demo dataset) and any ImageFolder
dataset, sharing the paper's classifiers and their training.

Modules:

- :mod:`~jpegai_eval.tasks.classes` -- MINC-2500's 23 class names in canonical order.
- :mod:`~jpegai_eval.tasks.demo` -- the deterministic synthetic demo dataset.
- :mod:`~jpegai_eval.tasks.minc` -- the on-disk layout, its validation and the ``MincTask``.
- :mod:`~jpegai_eval.tasks.imagefolder` -- torchvision's ImageFolder layout, its
  validation and the ``ImageFolderTask``.
- :mod:`~jpegai_eval.tasks.classification` -- ``ClassificationTask``: the classifiers,
  their initialisation, training and evaluation inputs, shared by both tasks.
- :mod:`~jpegai_eval.tasks.models` -- ResNet-50 (deep stem) and cResNet-39 (Table 1).
- :mod:`~jpegai_eval.tasks.training` -- presets, augmentations, training, evaluation.
- :mod:`~jpegai_eval.tasks.cli` -- the ``data`` and ``task`` command groups.

Importing this package is cheap: torch is imported only by ``models`` and ``training``.
"""
