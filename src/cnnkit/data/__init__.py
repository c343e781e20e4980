"""Data: dataset readers, downloads, in-memory tensors, preprocessing and augmentation."""

from cnnkit.data.datasets import DATASETS, Dataset, list_datasets, load_dataset
from cnnkit.data.tensors import ImageData, fit_to_input, from_arrays, split

__all__ = ["DATASETS", "Dataset", "ImageData", "fit_to_input", "from_arrays", "list_datasets", "load_dataset",
           "split"]
