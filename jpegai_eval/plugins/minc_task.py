"""Built-in plugin: the MINC-2500 material recognition task."""

from jpegai_eval import hookimpl
from jpegai_eval.tasks.minc import MincTask


@hookimpl
def register_tasks(register):
    register(MincTask())
