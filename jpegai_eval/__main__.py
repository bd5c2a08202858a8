"""``python -m jpegai_eval``: the ``jpegai-eval`` command (also ``torchrun -m jpegai_eval``)."""

from jpegai_eval.cli import main

if __name__ == "__main__":
    main()
