"""What a trained VAE or GAN generates: sample grids, walks between two codes, a 2-D latent space's pictures.

``cnnkit sample RUN`` draws codes z ~ N(0, I) (seeded), decodes them and writes a grid of the decoder's
Bernoulli means (grey levels), or of a GAN generator's pictures; ``--interpolate A B`` decodes the
straight line between the codes (means of q(z|x)) of two test images or picture files (a GAN: of two
seeds); for a 2-number latent code, ``--manifold`` decodes a grid of codes spaced by the Gaussian's
quantiles (Kingma & Welling 2014, Fig. 4) and writes the test images' codes coloured by class beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnkit.errors import CnnkitError
from cnnkit.rundir import TrainedModel, load, load_split


def _vae(run, gan_too: bool = False) -> TrainedModel:
    tm = run if isinstance(run, TrainedModel) else load(run)
    task = tm.meta.get("task", "classify")
    if task != "vae" and not (gan_too and task == "gan"):
        what = "VAE or GAN" if gan_too else "VAE"
        raise CnnkitError(f"{tm.path.parent if tm.path.suffix else tm.path} is not a {what} run (task {task}); "
                          f"sample from a run trained with --task vae or gan (e.g. 'cnnkit train vae-mnist')")
    return tm


def latent_size(tm: TrainedModel) -> int:
    return tm.input_shape[0] if tm.meta.get("task") == "gan" else tm.model.latent_size()


@torch.no_grad()
def decode_images(tm: TrainedModel, z: torch.Tensor) -> torch.Tensor:
    """Codes (N, Z) -> pictures (N, C, H, W) on [0, 1]: a VAE decoder's pixel probabilities, or what a GAN's
    generator draws (undoing the run's input normalisation)."""
    if tm.meta.get("task") == "gan":
        x = tm.model(z.view(len(z), -1, 1, 1)).reshape(len(z), *tm.image_shape)
        n = tm.normalizer  # the generator draws normalised images: back to the [0, 1] scale
        return ((x * n.std + n.mean) / (n.scale * 255)).clamp(0, 1)
    return torch.sigmoid(tm.model.decode(z)).reshape(len(z), *tm.input_shape)


@torch.no_grad()
def encode_images(tm: TrainedModel, images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> the means of q(z|x), (N, Z)."""
    return tm.model.encode(tm.normalizer(tm.prepare(images)))[0]


def grid_png(images: torch.Tensor, path: Path, cols: int | None = None, scale: int = 2) -> Path:
    """(N, C, H, W) on [0, 1] -> one PNG grid with a 1-pixel gap, each cell enlarged ``scale`` times."""
    from PIL import Image

    n, c, h, w = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    canvas = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1, c), dtype=np.float32)
    for i, img in enumerate(images.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()):
        r, k = divmod(i, cols)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = img
    pixels = (canvas * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels[..., 0] if c == 1 else pixels)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path


def sample(run, n: int = 64, seed: int = 0, out: str | Path = "samples.png") -> dict:
    if n < 1:
        raise CnnkitError("--n must be at least 1")
    tm = _vae(run, gan_too=True)
    z = torch.randn(n, latent_size(tm), generator=torch.Generator().manual_seed(seed))
    images = decode_images(tm, z)
    return {"out": str(grid_png(images, out)), "n": n, "seed": seed, "latent": int(z.shape[1])}


def _endpoint(tm: TrainedModel, what: str, test) -> torch.Tensor:
    if what.isdigit():
        i = int(what)
        if not 0 <= i < len(test):
            raise CnnkitError(f"test image {i} does not exist (the test split has {len(test):,})")
        return test[i:i + 1]
    if not Path(what).is_file():
        raise CnnkitError(f"{what!r} is neither a test-image index nor a picture file")
    return tm.load_pictures([what])[0]


def interpolate(run, a: str, b: str, steps: int = 10, out: str | Path = "interpolation.png") -> dict:
    if steps < 2:
        raise CnnkitError("--steps must be at least 2")
    tm = _vae(run, gan_too=True)
    if tm.meta.get("task") == "gan":  # a GAN has no encoder: A and B are the seeds of two codes
        if not (a.isdigit() and b.isdigit()):
            raise CnnkitError("a GAN has no encoder: --interpolate A B takes two seeds (whole numbers)")
        za, zb = (torch.randn(1, latent_size(tm), generator=torch.Generator().manual_seed(int(e))) for e in (a, b))
    else:
        test = load_split(tm)[1] if (a.isdigit() or b.isdigit()) else None
        za, zb = (encode_images(tm, _endpoint(tm, e, test)) for e in (a, b))
    t = torch.linspace(0, 1, steps).view(-1, 1)
    images = decode_images(tm, (1 - t) * za + t * zb)
    return {"out": str(grid_png(images, out, cols=steps)), "from": a, "to": b, "steps": steps}


def manifold(run, out: str | Path = "manifold.png", size: int = 20) -> dict:
    """A 2-D latent code's manifold (codes at the Gaussian quantiles 0.05..0.95) and the test codes by class."""
    tm = _vae(run)
    if tm.model.latent_size() != 2:
        raise CnnkitError(f"--manifold draws a 2-number latent code; this VAE's has {tm.model.latent_size()} "
                          f"(train vae-mnist-2d)")
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, size))
    zy, zx = torch.meshgrid(q.flip(0), q, indexing="ij")
    images = decode_images(tm, torch.stack([zx.flatten(), zy.flatten()], 1))
    out = Path(out)
    grid = grid_png(images, out, cols=size, scale=1)
    _, test, labels = load_split(tm)
    codes = encode_images(tm, test).cpu().numpy()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels.cpu().numpy(), cmap="tab10", s=2)
    fig.colorbar(points, ax=ax, label="class")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title("test images' codes (means of q(z|x))")
    scatter = out.with_name(out.stem + "-latent.png")
    fig.savefig(scatter, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return {"out": str(grid), "latent_scatter": str(scatter), "size": size}
