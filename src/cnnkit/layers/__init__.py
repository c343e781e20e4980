"""Layers: name -> module factories, the layers PyTorch lacks, and the spec builder."""

from cnnkit.layers.build import ACTIVATION_FACTORIES, FACTORIES, build_layer, get_activation
from cnnkit.layers.modules import (
    Conv2d,
    Inception,
    LocallyConnected2d,
    Maxout,
    MaxPool2d,
    RBFOutput,
    Residual,
    Scale,
    ScaledTanh,
    Subsample2d,
    TableConv2d,
    TiledConv2d,
    ZeroPadShortcut,
)
from cnnkit.layers.network import CNN, build_from_spec, with_num_classes

__all__ = [
    "ACTIVATION_FACTORIES", "FACTORIES", "CNN", "Conv2d", "Inception", "LocallyConnected2d", "Maxout", "MaxPool2d",
    "RBFOutput", "Residual", "Scale", "ScaledTanh", "Subsample2d", "TableConv2d", "TiledConv2d", "ZeroPadShortcut",
    "build_from_spec", "build_layer", "get_activation", "with_num_classes",
]
