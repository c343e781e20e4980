"""AlexNet, CaffeNet and ZFNet: one table, one builder.

Each row gives conv1's geometry, conv2's stride, the widths of conv3-5, the
grouping (AlexNet's two GPUs), the order of pooling and response
normalisation, and the rounding the published net relies on.
"""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model

SOURCE_ALEXNET = "Krizhevsky, Sutskever, Hinton 2012 (NIPS)"

#           input  conv1 (K, F, S, P)   conv2 (S, P)  conv3-5 widths    groups  norm before pool
CFGS = {
    "alexnet": dict(input=227, conv1=(96, 11, 4, 0), conv2=(1, 2), widths=(384, 384, 256), groups=2,
                    norm_first=True, rounding={}),
    "caffenet": dict(input=227, conv1=(96, 11, 4, 0), conv2=(1, 2), widths=(384, 384, 256), groups=2,
                     norm_first=False, rounding={}),
    # Zeiler & Fergus 2013, Fig. 3: 224 input, 7x7/2 conv1 (110x110, so pad 1 rounded down),
    # 5x5/2 unpadded conv2 (55 -> 26), dense conv3-5; their 3x3/2 pools round up (110 -> 55, 26 -> 13).
    "zfnet": dict(input=224, conv1=(96, 7, 2, 1), conv2=(2, 0), widths=(384, 384, 256), groups=1,
                  norm_first=False, rounding={"conv1": {"floor": True}, "pool": {"ceil_mode": True}}),
}


def alexnet_family(cfg: dict) -> dict:
    k1, f1, s1, p1 = cfg["conv1"]
    s2, p2 = cfg["conv2"]
    g = cfg["groups"]
    rnd = cfg["rounding"]
    pool = {"type": "maxpool", "size": 3, "stride": 2, **rnd.get("pool", {})}
    norm = {"type": "lrn", "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2}

    def conv_pool_norm(i, conv):
        pair = [dict(pool, name=f"pool{i}"), dict(norm, name=f"norm{i}")]
        return [conv, *(reversed(pair) if cfg["norm_first"] else pair)]

    w3, w4, w5 = cfg["widths"]
    layers = [
        *conv_pool_norm(1, {"type": "conv", "name": "conv1", "filters": k1, "size": f1, "stride": s1, "pad": p1,
                            "activation": "relu", **rnd.get("conv1", {})}),
        *conv_pool_norm(2, {"type": "conv", "name": "conv2", "filters": 256, "size": 5, "stride": s2, "pad": p2,
                            "groups": g, "activation": "relu"}),
        {"type": "conv", "name": "conv3", "filters": w3, "size": 3, "pad": 1, "activation": "relu"},
        {"type": "conv", "name": "conv4", "filters": w4, "size": 3, "pad": 1, "groups": g, "activation": "relu"},
        {"type": "conv", "name": "conv5", "filters": w5, "size": 3, "pad": 1, "groups": g, "activation": "relu"},
        dict(pool, name="pool5"),
        {"type": "fc", "name": "fc6", "units": 4096, "activation": "relu"},
        {"type": "dropout", "name": "drop6", "p": 0.5},
        {"type": "fc", "name": "fc7", "units": 4096, "activation": "relu"},
        {"type": "dropout", "name": "drop7", "p": 0.5},
        {"type": "fc", "name": "fc8", "units": 1000},
        {"type": "softmax", "name": "prob"},
    ]
    return {"input": [3, cfg["input"], cfg["input"]], "layers": layers}


@register_model("alexnet", description="AlexNet as trained on 2 GPUs: grouped conv2/4/5, LRN, overlapping pooling",
                source=SOURCE_ALEXNET, published={"params": 60_965_224}, recipe=R.ALEXNET)
def alexnet() -> dict:
    return alexnet_family(CFGS["alexnet"])


@register_model("caffenet", description="CaffeNet, the 1-GPU Caffe variant of AlexNet (pool before norm)",
                source="Jia et al. 2014, Caffe bvlc_reference_caffenet", published={"params": 60_965_224},
                recipe=R.ALEXNET)
def caffenet() -> dict:
    return alexnet_family(CFGS["caffenet"])


@register_model("zfnet", description="ZFNet: 7x7 stride-2 conv1, stride-2 conv2, dense conv3-5",
                source="Zeiler & Fergus 2013, 'Visualizing and Understanding Convolutional Networks', Fig. 3",
                published={"params": 62_357_608}, recipe=R.ALEXNET)
def zfnet() -> dict:
    return alexnet_family(CFGS["zfnet"])


@register_model("alexnet-owt", description="AlexNet as torchvision builds it: 64-192-384-256-256, no LRN, no groups",
                source="Krizhevsky 2014, 'One weird trick for parallelizing CNNs'; torchvision alexnet",
                published={"params": 61_100_840}, recipe=R.ALEXNET, torchvision="sequential")
def alexnet_owt() -> dict:
    # 224 input with pad 2 gives (224 - 11 + 4) / 4 + 1 = 55.25: the port rounds down, as torchvision does
    conv = lambda name, k, f, **kw: {"type": "conv", "name": name, "filters": k, "size": f, "pad": f // 2,  # noqa: E731
                                     "activation": "relu", **kw}
    pool = lambda name: {"type": "maxpool", "name": name, "size": 3, "stride": 2}  # noqa: E731
    return {"input": [3, 224, 224], "layers": [
        conv("conv1", 64, 11, stride=4, pad=2, floor=True), pool("pool1"),
        conv("conv2", 192, 5), pool("pool2"),
        conv("conv3", 384, 3), conv("conv4", 256, 3), conv("conv5", 256, 3), pool("pool5"),
        {"type": "dropout", "name": "drop6"}, {"type": "fc", "name": "fc6", "units": 4096, "activation": "relu"},
        {"type": "dropout", "name": "drop7"}, {"type": "fc", "name": "fc7", "units": 4096, "activation": "relu"},
        {"type": "fc", "name": "fc8", "units": 1000}, {"type": "softmax", "name": "prob"},
    ]}
