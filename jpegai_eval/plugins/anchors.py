"""The paper's anchors (Deng & Karam, Section 3) and the compressed-domain classifier."""

from jpegai_eval import hookimpl
from jpegai_eval.framework.api.types import Anchor

ANCHORS = (
    Anchor(
        id="anchor1",
        title="Anchor 1: decoded images, classifier trained on originals",
        domain="pixel",
        train_on="original",
        eval_on="decoded",
        reuses_classifier_of="anchor3",
        description="Pixel domain at the decoder with the pretrained classifier.",
    ),
    Anchor(
        id="anchor2",
        title="Anchor 2: decoded images, classifier retrained on decoded images",
        domain="pixel",
        train_on="decoded",
        eval_on="decoded",
        description="Pixel domain at the decoder with a classifier retrained per quality.",
    ),
    Anchor(
        id="anchor3",
        title="Anchor 3: original images, no compression",
        domain="pixel",
        train_on="original",
        eval_on="original",
        per_quality=False,
        description="Pixel domain without encoding: the upper bound.",
    ),
    Anchor(
        id="compressed",
        title="Compressed domain: cResNet-39 on the latents (y_hat, sigma_hat...)",
        domain="latent",
        train_on="latents",
        eval_on="latents",
        description="Classification on the entropy-decoded latents; g_s is never run.",
    ),
)


@hookimpl
def register_anchors(register):
    for anchor in ANCHORS:
        register(anchor)
