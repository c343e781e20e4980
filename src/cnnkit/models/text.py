"""Networks over sentences: Kim's CNN (2014) and recurrent classifiers (RNN, LSTM, GRU), trained on ``mr``.

Their input is ``{tokens: L}``: L token ids, the vocabulary sized from the
training data when a run starts (the counts below use MR's 18,765 words, Kim's
Table 1).  Kim's three filter widths run side by side as the branches of one
block, each max-pooled over time, their 3 x 100 maxima concatenated.
"""

from cnnkit.models import recipes as R
from cnnkit.models.registry import register_model

MR_VOCAB = 18_765  # Kim 2014, Table 1: |V| of MR
MR_LENGTH = 56  # the longest MR sentence in words after Kim's cleaning (Table 1: average 20)


def _kim(dim: int = 300, freeze: bool = False, channels: str = "1") -> dict:
    # Kim's code puts filter_h - 1 = 4 zero vectors before every sentence (and pads the end): pad 4 on both
    # sides reads the same windows, and the extra all-padding windows only repeat relu(bias) for the max
    branches = [[{"type": "conv1d", "filters": 100, "size": h, "pad": 4, "activation": "relu"},
                 {"type": "maxpool1d", "global": True}] for h in (3, 4, 5)]
    return {"input": {"tokens": MR_LENGTH}, "classes": ["neg", "pos"], "layers": [
        {"type": "embedding", "name": "embed", "dim": dim, "vocab": MR_VOCAB, "freeze": freeze, "channels": channels},
        {"type": "inception", "name": "filters", "branches": branches},
        {"type": "dropout", "p": 0.5},
        {"type": "fc", "name": "output", "units": 2},
    ]}


KIM = "Kim 2014, 'Convolutional Neural Networks for Sentence Classification', section 2 and 3.1"


@register_model("kim-cnn", description="Kim's sentence CNN (CNN-rand): 300-d word vectors learnt from scratch, "
                "filter widths 3/4/5 x 100 maps, ReLU, max-over-time pooling, dropout 0.5",
                source=KIM, dataset="mr", recipe=R.KIM_CNN)
def kim_cnn() -> dict:
    return _kim()


@register_model("kim-cnn-static", description="Kim's CNN-static: word vectors from a word2vec file (the spec's "
                "embedding 'vectors'), kept fixed", source=KIM, dataset="mr", recipe=R.KIM_CNN)
def kim_cnn_static() -> dict:
    return _kim(freeze=True)


@register_model("kim-cnn-multichannel", description="Kim's CNN-multichannel: a fixed and a fine-tuned copy of the "
                "word vectors as two input channels", source=KIM, dataset="mr", recipe=R.KIM_CNN)
def kim_cnn_multichannel() -> dict:
    return _kim(channels="2")


def _recurrent(kind: str, bidirectional: bool = False) -> dict:
    return {"input": {"tokens": MR_LENGTH}, "classes": ["neg", "pos"], "layers": [
        {"type": "embedding", "name": "embed", "dim": 128, "vocab": MR_VOCAB},
        {"type": "dropout", "p": 0.3},
        {"type": kind, "name": kind, "hidden": 128, "bidirectional": bidirectional},
        {"type": "dropout", "p": 0.3},
        {"type": "fc", "name": "output", "units": 2},
    ]}


RNN_SOURCE = "Lazzerini, 'Artificial Neural Networks' (RNN, LSTM, GRU); Hochreiter & Schmidhuber 1997; Cho et al. 2014"


@register_model("lstm-text", description="an LSTM sentence classifier: 128-d word vectors, 128 hidden units, the "
                "last hidden state to the classes", source=RNN_SOURCE, dataset="mr", recipe=R.RNN_TEXT)
def lstm_text() -> dict:
    return _recurrent("lstm")


@register_model("gru-text", description="a GRU sentence classifier (128-d vectors, 128 hidden units)",
                source=RNN_SOURCE, dataset="mr", recipe=R.RNN_TEXT)
def gru_text() -> dict:
    return _recurrent("gru")


@register_model("bilstm-text", description="a bidirectional LSTM: both directions' last states to the classes",
                source=RNN_SOURCE, dataset="mr", recipe=R.RNN_TEXT)
def bilstm_text() -> dict:
    return _recurrent("lstm", bidirectional=True)


@register_model("rnn-text", description="an Elman RNN sentence classifier (shared U, V, W; tanh)",
                source=RNN_SOURCE, dataset="mr", recipe=R.RNN_TEXT)
def rnn_text() -> dict:
    return _recurrent("rnn")
