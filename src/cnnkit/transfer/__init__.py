"""Transfer learning: feature extraction, freezing, staged fine-tuning and weight import."""

from cnnkit.transfer.features import extract_features, feature_layer_names, transfer_classify
from cnnkit.transfer.finetune import Stage, finetune, freeze_except, parse_stages
from cnnkit.transfer.weights import import_weights, map_state_dict

__all__ = ["Stage", "extract_features", "feature_layer_names", "finetune", "freeze_except", "import_weights",
           "map_state_dict", "parse_stages", "transfer_classify"]
