"""Built-in plugin: image classification on any dataset in ImageFolder layout."""

from jpegai_eval import hookimpl


@hookimpl
def register_tasks(register):
    from jpegai_eval.tasks.imagefolder import ImageFolderTask

    register(ImageFolderTask())
