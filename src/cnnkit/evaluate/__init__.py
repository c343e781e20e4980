"""Evaluation: metrics, prediction on image files, and (later) ensembles, TTA and reports."""

from cnnkit.evaluate.metrics import classification_metrics, predict_logits, topk_errors

__all__ = ["classification_metrics", "predict_logits", "topk_errors"]
