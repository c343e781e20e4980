"""Autoencoders: an encoder to a small code, a decoder back to the image (task reconstruct)."""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model


@register_model("conv-ae", description="convolutional autoencoder for 28x28 grey images, a 32-number code",
                source="Masci et al. 2011, 'Stacked Convolutional Auto-Encoders'; the Ferrara outline's autoencoder",
                dataset="mnist", recipe=R.AUTOENCODER)
def conv_ae() -> dict:
    return {"input": [1, 28, 28], "layers": [
        {"type": "conv", "name": "enc1", "filters": 16, "size": 3, "pad": 1, "activation": "relu"},
        {"type": "maxpool", "name": "pool1", "size": 2},
        {"type": "conv", "name": "enc2", "filters": 32, "size": 3, "pad": 1, "activation": "relu"},
        {"type": "maxpool", "name": "pool2", "size": 2},
        {"type": "fc", "name": "code", "units": 32},
        {"type": "fc", "name": "expand", "units": 32 * 7 * 7, "activation": "relu"},
        {"type": "reshape", "name": "maps", "shape": [32, 7, 7]},
        {"type": "conv_transpose", "name": "dec1", "filters": 16, "size": 4, "stride": 2, "pad": 1,
         "activation": "relu"},
        {"type": "conv_transpose", "name": "dec2", "filters": 1, "size": 4, "stride": 2, "pad": 1,
         "activation": "sigmoid"},
    ]}
