"""The 3-conv CIFAR-10 network of the lecture notes (Lazzerini, ANN part III, example 1)."""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@register_model("cifar10-net", description="3 x (conv5x5 pad 2 + maxpool 2) then fc10, for 32x32 RGB",
                source="Lazzerini, 'Artificial Neural Networks part III', CIFAR-10 example",
                published={"params": 22_466, "neurons": 31_562, "connections": 3_942_784}, dataset="cifar10",
                recipe=R.SMALL_CIFAR)
def cifar10_net() -> dict:
    layers = []
    for filters in (16, 20, 20):
        layers += [{"type": "conv", "filters": filters, "size": 5, "pad": 2, "activation": "relu"},
                   {"type": "maxpool", "size": 2, "stride": 2}]
    return {"input": [3, 32, 32], "classes": CIFAR10_CLASSES,
            "layers": [*layers, {"type": "fc", "units": 10}, {"type": "softmax"}]}


#: width of each of the three conv groups of the speed net (airbench's 64/256/256 at 94%)
SPEED_WIDTHS = (64, 256, 256)


@register_model("cifar-speed", description="a small fast CIFAR-10 net in airbench's spirit: 3 conv groups with "
                "batch norm, max pooling and GELU, global max pool, linear head scaled by 1/9",
                source="Jordan 2024, 'airbench' (CIFAR-10 94% in seconds), simplified", dataset="cifar10",
                recipe=R.CIFAR_SPEED)
def cifar_speed() -> dict:
    def conv(k):
        return {"type": "conv", "filters": k, "size": 3, "pad": 1, "bias": False, "batchnorm": True,
                "activation": "gelu"}

    layers = [{"type": "conv", "name": "stem", "filters": 24, "size": 2, "pad": 0, "bias": True,
               "activation": "gelu", "floor": True}]  # 2x2 patches -> 31x31 (airbench's whitening stem)
    for i, k in enumerate(SPEED_WIDTHS, 1):
        layers += [dict(conv(k), name=f"block{i}a"),
                   {"type": "maxpool", "name": f"pool{i}", "size": 2, "floor": True},
                   dict(conv(k), name=f"block{i}b")]
    layers += [{"type": "maxpool", "name": "gmp", "global": True}, {"type": "fc", "name": "head", "units": 10},
               {"type": "scale", "name": "temperature", "factor": 1 / 9}, {"type": "softmax"}]
    return {"input": [3, 32, 32], "classes": CIFAR10_CLASSES, "layers": layers}
