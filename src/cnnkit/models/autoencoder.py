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


def _vae(latent: int) -> dict:
    """Conv encoder to 2Z numbers (mu, log sigma^2), the sampling step, a deconv decoder to Bernoulli logits."""
    return {"input": [1, 28, 28], "layers": [
        {"type": "conv", "name": "enc1", "filters": 32, "size": 4, "stride": 2, "pad": 1, "activation": "relu"},
        {"type": "conv", "name": "enc2", "filters": 64, "size": 4, "stride": 2, "pad": 1, "activation": "relu"},
        {"type": "fc", "name": "hidden", "units": 256, "activation": "relu"},
        {"type": "fc", "name": "q", "units": 2 * latent},
        {"type": "reparameterize", "name": "z", "latent": latent},
        {"type": "fc", "name": "dec_hidden", "units": 256, "activation": "relu"},
        {"type": "fc", "name": "expand", "units": 64 * 7 * 7, "activation": "relu"},
        {"type": "reshape", "name": "maps", "shape": [64, 7, 7]},
        {"type": "conv_transpose", "name": "dec1", "filters": 32, "size": 4, "stride": 2, "pad": 1,
         "activation": "relu"},
        {"type": "conv_transpose", "name": "logits", "filters": 1, "size": 4, "stride": 2, "pad": 1},
    ]}


VAE_SOURCE = "Kingma & Welling 2014, 'Auto-Encoding Variational Bayes'; the Lazzerini deck's VAE"


@register_model("vae-mnist", description="variational autoencoder for 28x28 grey images: conv encoder, latent 20, "
                "deconv Bernoulli decoder (task vae)", source=VAE_SOURCE, dataset="mnist", recipe=R.VAE)
def vae_mnist() -> dict:
    return _vae(20)


@register_model("vae-mnist-2d", description="the same VAE with a 2-number latent code, for the manifold picture "
                "(Kingma & Welling Fig. 4)", source=VAE_SOURCE, dataset="mnist", recipe=R.VAE)
def vae_mnist_2d() -> dict:
    return _vae(2)
