"""The training recipes of the papers and the lecture notes, as data.

A zoo entry names its recipe in its registration (``register_model(...,
recipe=DIGITS)``); ``cnnkit train MODEL`` starts from it.  A recipe only sets
keys of :class:`~cnnkit.train.config.TrainConfig`; config files and flags
override it.
"""

# Small digit nets: Nesterov SGD with a one-cycle LR, small translations.
DIGITS = dict(dataset="mnist", epochs=12, batch_size=128, lr=0.05, optimizer="sgd", momentum=0.9, nesterov=True,
              weight_decay=5e-4, schedule="onecycle", init="default", preprocess="standardize",
              augment="translate")
MLP = dict(DIGITS, augment="", epochs=15)
LENET_1998 = dict(DIGITS, lr=0.02)
# The AlexNet recipe of the notes: SGD 0.01, momentum 0.9, wd 5e-4, batch 128, LR / 10 on plateau, 3 times.
ALEXNET = dict(dataset="cifar10", epochs=90, batch_size=128, lr=0.01, optimizer="sgd", momentum=0.9,
               weight_decay=5e-4, schedule="plateau", gamma=0.1, patience=1, max_drops=3, val_split=0.1,
               preprocess="mean-image", augment="crop,flip")
SMALL_CIFAR = dict(dataset="cifar10", epochs=20, batch_size=128, lr=0.05, optimizer="sgd", momentum=0.9,
                   nesterov=True, weight_decay=5e-4, schedule="onecycle", preprocess="standardize",
                   augment="crop,flip")
# airbench's spirit, for a GPU (bench/gpu_cifar.py, one H100): batch 1024 (512 left the GPU waiting on
# Python), frozen BN scales with BN biases at 8x LR, the net's 1/9 logit scale and peak LR 0.8 (+1.3
# points over plain SGD at 0.2); torch.compile saved 7% of an epoch but cost 24 s, so it stays off.
CIFAR_SPEED = dict(SMALL_CIFAR, epochs=10, batch_size=1024, lr=0.8, lr_bn_scale=8, train_bn_scale=False,
                   label_smoothing=0.2, augment="flip,translate:2", channels_last=True, amp="auto",
                   compile=False, tta="flip,translate", eval_test_every_epoch=True)
CIFAR_RESNET = dict(SMALL_CIFAR, epochs=60, lr=0.1, init="he")
VGG = dict(ALEXNET, preprocess="channel-mean", init="he")
IMAGENET_RESNET = dict(dataset="cifar10", epochs=60, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9,
                       weight_decay=1e-4, schedule="cosine", init="he", augment="crop,flip")
# Autoencoders: Adam with a one-cycle LR, per-pixel MSE on the [0, 1] scale, no augmentation.
AUTOENCODER = dict(dataset="mnist", task="reconstruct", epochs=5, batch_size=128, lr=0.003, optimizer="adam",
                   momentum=0.9, weight_decay=0.0, schedule="onecycle", preprocess="standardize", augment="")
# Kim 2014: Adadelta (rho 0.95, eps 1e-6), batch 50, dropout 0.5 and max-norm 3 on the output weights;
# 12 epochs instead of his 25 with early stopping: on a 10% validation split of MR's training part the
# validation error reached its plateau (24 +- 0.5%) by epoch 6-8 and stayed there to epoch 25.
KIM_CNN = dict(dataset="mr", epochs=12, batch_size=50, lr=1.0, optimizer="adadelta", momentum=0.0, nesterov=False,
               weight_decay=0.0, schedule="constant", max_norm=3.0, preprocess="none", augment="")
# Recurrent text classifiers: Adam, gradient steps of 64 sentences.
RNN_TEXT = dict(dataset="mr", epochs=6, batch_size=64, lr=0.002, optimizer="adam", momentum=0.9, nesterov=False,
                weight_decay=0.0, schedule="onecycle", preprocess="none", augment="")
# VAEs on dynamically binarised images: Adam 1e-3, batch 128, inputs on [0, 1] as the decoder's targets.
VAE = dict(dataset="mnist", task="vae", epochs=20, batch_size=128, lr=1e-3, optimizer="adam", momentum=0.9,
           nesterov=False, weight_decay=0.0, schedule="constant", preprocess="none", augment="")
# DCGAN (Radford et al. 2016): Adam 2e-4 with beta1 (momentum) 0.5, batch 64, N(0, 0.02) weights, pixels on
# [0, 1] as the generator's sigmoid draws them.
DCGAN = dict(dataset="mnist", task="gan", epochs=5, batch_size=64, lr=2e-4, optimizer="adam", momentum=0.5,
             nesterov=False, weight_decay=0.0, schedule="constant", init="dcgan", preprocess="none", augment="")
