"""GoogLeNet (Inception v1), layer for layer as torchvision builds it (no auxiliary heads).

Like torchvision, every conv is conv (no bias) + batch norm + ReLU, and the
"5x5" branch uses a 3x3 kernel: torchvision kept that slip from its original
port so its pretrained weights load (pytorch/vision#906).  Matching it keeps
our parameter count equal to torchvision's and its weights importable.
"""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model

#: name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)  - Szegedy et al. 2014, Table 1
INCEPTIONS = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}
FIVE_BY_FIVE = 3  # see the module docstring


def conv_bn(filters: int, size: int, **kw) -> dict:
    # torchvision's BasicConv2d: conv without bias, batch norm with eps 0.001, ReLU
    return {"type": "conv", "filters": filters, "size": size, "pad": "same", "bias": False, "batchnorm": 0.001,
            "activation": "relu", **kw}


def inception(name: str, c1: int, r3: int, c3: int, r5: int, c5: int, pp: int) -> dict:
    return {"type": "inception", "name": name, "branches": [
        [conv_bn(c1, 1)],
        [conv_bn(r3, 1), conv_bn(c3, 3)],
        [conv_bn(r5, 1), conv_bn(c5, FIVE_BY_FIVE)],
        [{"type": "maxpool", "size": 3, "stride": 1, "pad": 1, "ceil_mode": True}, conv_bn(pp, 1)],
    ]}


def _pool(name: str, size: int = 3) -> dict:
    return {"type": "maxpool", "name": name, "size": size, "stride": 2, "ceil_mode": True}


@register_model("googlenet", description="GoogLeNet / Inception v1 without auxiliary classifiers",
                source="Szegedy et al. 2014, 'Going Deeper with Convolutions'; torchvision googlenet",
                published={"params": 6_624_904}, aliases=("inception-v1",),
                recipe=R.IMAGENET_RESNET, torchvision="googlenet")
def googlenet() -> dict:
    blocks = [inception(n, *c) for n, c in INCEPTIONS.items()]
    return {"input": [3, 224, 224], "layers": [
        conv_bn(64, 7, name="conv1", stride=2, pad=3, floor=True),
        _pool("maxpool1"),
        conv_bn(64, 1, name="conv2"),
        conv_bn(192, 3, name="conv3"),
        _pool("maxpool2"),
        *blocks[0:2],
        _pool("maxpool3"),
        *blocks[2:7],
        _pool("maxpool4", size=2),
        *blocks[7:9],
        {"type": "avgpool", "name": "avgpool", "global": True},
        {"type": "dropout", "name": "dropout", "p": 0.2},
        {"type": "fc", "name": "fc", "units": 1000},
        {"type": "softmax"},
    ]}
