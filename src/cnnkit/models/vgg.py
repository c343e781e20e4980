"""VGG A-E: the six columns of Simonyan & Zisserman's Table 1, cell for cell."""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model

_B1 = ["conv3-64", "conv3-64"]
_B2 = ["conv3-128", "conv3-128"]

#: Table 1 of the paper, in the slides' own shorthand.
CFGS = {
    "a": ["conv3-64", "maxpool", "conv3-128", "maxpool", "conv3-256", "conv3-256", "maxpool",
          "conv3-512", "conv3-512", "maxpool", "conv3-512", "conv3-512", "maxpool"],
    "a-lrn": ["conv3-64", "LRN", "maxpool", "conv3-128", "maxpool", "conv3-256", "conv3-256", "maxpool",
              "conv3-512", "conv3-512", "maxpool", "conv3-512", "conv3-512", "maxpool"],
    "b": [*_B1, "maxpool", *_B2, "maxpool", "conv3-256", "conv3-256", "maxpool",
          "conv3-512", "conv3-512", "maxpool", "conv3-512", "conv3-512", "maxpool"],
    "c": [*_B1, "maxpool", *_B2, "maxpool", "conv3-256", "conv3-256", "conv1-256", "maxpool",
          "conv3-512", "conv3-512", "conv1-512", "maxpool", "conv3-512", "conv3-512", "conv1-512", "maxpool"],
    "d": [*_B1, "maxpool", *_B2, "maxpool", "conv3-256", "conv3-256", "conv3-256", "maxpool",
          "conv3-512", "conv3-512", "conv3-512", "maxpool", "conv3-512", "conv3-512", "conv3-512", "maxpool"],
    "e": [*_B1, "maxpool", *_B2, "maxpool", "conv3-256", "conv3-256", "conv3-256", "conv3-256", "maxpool",
          "conv3-512", "conv3-512", "conv3-512", "conv3-512", "maxpool",
          "conv3-512", "conv3-512", "conv3-512", "conv3-512", "maxpool"],
}
HEAD = ["FC-4096", "dropout", "FC-4096", "dropout", "FC-1000", "softmax"]

#        column   aliases      params (Table 2 gives 133M, 133M, 133M, 134M, 138M, 144M)
ROWS = [("a", ("vgg11",), 132_863_336), ("a-lrn", (), 132_863_336), ("b", ("vgg13",), 133_047_848),
        ("c", (), 133_638_952), ("d", ("vgg16",), 138_357_544), ("e", ("vgg19",), 143_667_240)]

SOURCE = "Simonyan & Zisserman 2014, 'Very Deep Convolutional Networks', Table 1"


def _register(column: str, aliases: tuple[str, ...], params: int) -> None:
    depth = sum(1 for cell in CFGS[column] if cell.startswith("conv")) + 3

    @register_model(f"vgg-{column}", description=f"VGG configuration {column.upper()} ({depth} weight layers)",
                    source=SOURCE, published={"params": params}, aliases=aliases, recipe=R.VGG,
                    torchvision="sequential" if column in ("a", "b", "d", "e") else None)
    def make() -> dict:
        return {"input": [3, 224, 224], "layers": [*CFGS[column], *HEAD]}


for _row in ROWS:
    _register(*_row)
