"""LeNet family: the hands-on MLP, LeNet-5 as the slides code it, and LeCun et al. 1998."""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model

MNIST_CLASSES = [str(d) for d in range(10)]


@register_model("mlp", description="784-500-50-10 multilayer perceptron of the hands-on slides",
                source="Dürr, 'Convolutional Neural Nets II, Hands On' (demo MLP)",
                published={"params": 418_060}, dataset="mnist", recipe=R.MLP)
def mlp() -> dict:
    return {"input": [1, 28, 28], "classes": MNIST_CLASSES,
            "layers": ["FC-500", "FC-50", "FC-10", "softmax"]}


@register_model("lenet5", description="LeNet-5 as in the slides' PyTorch code: ReLU, max pooling, 28x28 with pad 2",
                source="LeCun et al. 1998, as coded in the lecture's PyTorch LeNet5 class",
                published={"params": 61_706}, dataset="mnist", recipe=R.DIGITS)
def lenet5() -> dict:
    return {"input": [1, 28, 28], "classes": MNIST_CLASSES, "layers": [
        {"type": "conv", "name": "conv1", "filters": 6, "size": 5, "pad": 2, "activation": "relu"},
        {"type": "maxpool", "name": "pool1", "size": 2},
        {"type": "conv", "name": "conv2", "filters": 16, "size": 5, "activation": "relu"},
        {"type": "maxpool", "name": "pool2", "size": 2},
        {"type": "fc", "name": "fc1", "units": 120, "activation": "relu"},
        {"type": "fc", "name": "fc2", "units": 84, "activation": "relu"},
        {"type": "fc", "name": "fc3", "units": 10},
        {"type": "softmax"},
    ]}


#: LeCun et al. 1998, Table I: the input maps of S2 that each C3 map reads.
C3_TABLE = [
    [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5],
    [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5],
    [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5],
    [0, 1, 2, 3, 4, 5],
]


@register_model("lenet5-1998", description="LeNet-5 as published: scaled tanh, trainable subsampling, "
                "C3 connection table, RBF output", source="LeCun, Bottou, Bengio, Haffner 1998, Fig. 2 and Table I",
                published={"params": 60_000}, dataset="mnist", recipe=R.LENET_1998)
def lenet5_1998() -> dict:
    sq = "scaled_tanh"
    return {"input": [1, 32, 32], "classes": MNIST_CLASSES, "layers": [
        {"type": "conv", "name": "C1", "filters": 6, "size": 5, "activation": sq},
        {"type": "subsample", "name": "S2", "size": 2, "activation": sq},
        {"type": "conv", "name": "C3", "filters": 16, "size": 5, "table": C3_TABLE, "activation": sq},
        {"type": "subsample", "name": "S4", "size": 2, "activation": sq},
        {"type": "conv", "name": "C5", "filters": 120, "size": 5, "activation": sq},
        {"type": "fc", "name": "F6", "units": 84, "activation": sq},
        {"type": "rbf", "name": "output", "units": 10},
    ]}
