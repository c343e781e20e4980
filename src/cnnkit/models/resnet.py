"""ResNets from one table: stem, widths and blocks per stage.

ImageNet nets (He et al. 2016, Table 1) use a 7x7/2 stem, max pooling and
projection shortcuts where the shape changes; CIFAR nets (Sec. 4.2) use a 3x3
stem, widths 16/32/64 and parameter-free zero-padding shortcuts (option A).
"""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model

SOURCE = "He, Zhang, Ren, Sun 2016, 'Deep Residual Learning for Image Recognition'"

# CIFAR counts are for option A (0.27M, 0.46M, 0.85M in Sec. 4.2); 1x1 projections would add 2,752.
#        name        input  stem     widths               blocks         shortcut   classes  published
ROWS = [("resnet18", 224, "imagenet", (64, 128, 256, 512), (2, 2, 2, 2), "project", 1000, 11_689_512),
        ("resnet34", 224, "imagenet", (64, 128, 256, 512), (3, 4, 6, 3), "project", 1000, 21_797_672),
        ("resnet20", 32, "cifar", (16, 32, 64), (3, 3, 3), "pad", 10, 269_722),
        ("resnet32", 32, "cifar", (16, 32, 64), (5, 5, 5), "pad", 10, 464_154),
        ("resnet56", 32, "cifar", (16, 32, 64), (9, 9, 9), "pad", 10, 853_018)]


def conv_bn(filters: int, size: int, stride: int = 1, relu: bool = True) -> dict:
    # stride-2 3x3 convs on even maps and 7x7/2 stems do not tile exactly: round down, as the paper's nets do
    return {"type": "conv", "filters": filters, "size": size, "stride": stride, "pad": size // 2, "bias": False,
            "batchnorm": True, "activation": "relu" if relu else None, "floor": stride > 1}


def basic_block(name: str, in_ch: int, width: int, stride: int, shortcut: str) -> dict:
    body = [conv_bn(width, 3, stride), conv_bn(width, 3, relu=False)]
    if stride == 1 and in_ch == width:
        sc: object = "identity"
    elif shortcut == "pad":
        sc = "pad"
    else:
        sc = [conv_bn(width, 1, stride, relu=False)]
    return {"type": "residual", "name": name, "body": body, "shortcut": sc}


def resnet(size: int, stem: str, widths, blocks, shortcut: str, classes: int) -> dict:
    if stem == "imagenet":
        layers = [dict(conv_bn(widths[0], 7, 2), name="conv1"),
                  {"type": "maxpool", "name": "maxpool", "size": 3, "stride": 2, "pad": 1, "floor": True}]
    else:
        layers = [dict(conv_bn(widths[0], 3), name="conv1")]
    in_ch = widths[0]
    for stage, (width, n) in enumerate(zip(widths, blocks), 1):
        for j in range(n):
            stride = 2 if stage > 1 and j == 0 else 1
            layers.append(basic_block(f"layer{stage}_{j}", in_ch, width, stride, shortcut))
            in_ch = width
    layers += [{"type": "avgpool", "name": "avgpool", "global": True},
               {"type": "fc", "name": "fc", "units": classes}, {"type": "softmax"}]
    return {"input": [3, size, size], "layers": layers}


def _register(name, size, stem, widths, blocks, shortcut, classes, params) -> None:
    depth = 2 * sum(blocks) + 2
    where = "ImageNet" if stem == "imagenet" else "CIFAR-10"

    @register_model(name, description=f"ResNet-{depth} for {where} ({'-'.join(map(str, blocks))} basic blocks)",
                    source=SOURCE, published={"params": params},
                    dataset="imagenet" if stem == "imagenet" else "cifar10",
                    recipe=R.IMAGENET_RESNET if stem == "imagenet" else R.CIFAR_RESNET,
                    torchvision="resnet" if stem == "imagenet" else None)
    def make() -> dict:
        spec = resnet(size, stem, widths, blocks, shortcut, classes)
        if stem == "cifar":
            from cnnkit.models.cifar import CIFAR10_CLASSES

            spec["classes"] = CIFAR10_CLASSES
        return spec


for _row in ROWS:
    _register(*_row)
