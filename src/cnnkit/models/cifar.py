"""The 3-conv CIFAR-10 network of the lecture notes (Lazzerini, ANN part III, example 1)."""

from cnnkit.models.registry import register_model

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@register_model("cifar10-net", description="3 x (conv5x5 pad 2 + maxpool 2) then fc10, for 32x32 RGB",
                source="Lazzerini, 'Artificial Neural Networks part III', CIFAR-10 example",
                published={"params": 22_466, "neurons": 31_562, "connections": 3_942_784}, dataset="cifar10")
def cifar10_net() -> dict:
    layers = []
    for filters in (16, 20, 20):
        layers += [{"type": "conv", "filters": filters, "size": 5, "pad": 2, "activation": "relu"},
                   {"type": "maxpool", "size": 2, "stride": 2}]
    return {"input": [3, 32, 32], "classes": CIFAR10_CLASSES,
            "layers": [*layers, {"type": "fc", "units": 10}, {"type": "softmax"}]}
