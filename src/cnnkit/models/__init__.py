"""The model zoo: one registry, one file per family."""

# Importing a family registers it; the order here is the order of 'cnnkit models'.
from cnnkit.models import lenet  # noqa: F401, I001
from cnnkit.models import cifar  # noqa: F401
from cnnkit.models import alexnet  # noqa: F401
from cnnkit.models import vgg  # noqa: F401
from cnnkit.models import googlenet  # noqa: F401
from cnnkit.models import resnet  # noqa: F401
from cnnkit.models import autoencoder  # noqa: F401
from cnnkit.models import text  # noqa: F401
from cnnkit.models.registry import ModelEntry, get_entry, list_models, register_model, resolve_spec

__all__ = ["ModelEntry", "get_entry", "list_models", "register_model", "resolve_spec"]
