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


DCGAN_SOURCE = "Radford, Metz & Chintala 2016 (DCGAN); Goodfellow et al. 2014; the Lazzerini deck's GAN"


def _dcgan(image: list[int], widths: tuple[int, ...], latent: int = 64) -> dict:
    """DCGAN's guidelines: no pooling (strided convolutions down, transposed convolutions up), batch norm in
    both networks except the generator's output and the discriminator's input, ReLU in the generator (a
    sigmoid output on [0, 1] pixels), LeakyReLU 0.2 in the discriminator."""
    c, h, _ = image
    start = h // 2 ** len(widths)
    leaky = {"type": "leaky_relu", "slope": 0.2}
    generator = [{"type": "fc", "name": "project", "units": widths[0] * start * start, "batchnorm": True,
                  "activation": "relu"},
                 {"type": "reshape", "name": "maps", "shape": [widths[0], start, start]}]
    for i, k in enumerate(widths[1:], 1):
        generator.append({"type": "conv_transpose", "name": f"up{i}", "filters": k, "size": 4, "stride": 2, "pad": 1,
                          "batchnorm": True, "activation": "relu"})
    generator.append({"type": "conv_transpose", "name": "image", "filters": c, "size": 4, "stride": 2, "pad": 1,
                      "activation": "sigmoid"})
    discriminator = []
    for i, k in enumerate(reversed(widths), 1):
        discriminator.append({"type": "conv", "name": f"down{i}", "filters": k, "size": 4, "stride": 2, "pad": 1,
                              "batchnorm": i > 1, "activation": leaky})
    discriminator.append({"type": "fc", "name": "real", "units": 1})
    return {"input": image, "latent": latent, "generator": generator, "discriminator": discriminator}


@register_model("dcgan-mnist", description="DCGAN for 28x28 grey images: a 64-number code, generator 128-64 maps, "
                "discriminator 64-128 (task gan)", source=DCGAN_SOURCE, dataset="mnist", recipe=R.DCGAN)
def dcgan_mnist() -> dict:
    return _dcgan([1, 28, 28], (128, 64))


@register_model("dcgan-cifar", description="DCGAN for 32x32 RGB images: a 64-number code, generator 256-128-64 maps, "
                "discriminator 64-128-256 (task gan)", source=DCGAN_SOURCE, dataset="cifar10", recipe=R.DCGAN)
def dcgan_cifar() -> dict:
    return _dcgan([3, 32, 32], (256, 128, 64))
