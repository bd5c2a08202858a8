"""Real photographs for training and measuring the demo codec, from a Debian package.

The demo codec is trained on the synthetic demo textures *and* on natural photographs,
and its rate-distortion is reported on both. Photographs cannot be downloaded here, and
must never be committed, so they come from the desktop wallpapers that Debian's
``plasma-workspace-wallpapers`` package (5.27) installs under ``/usr/share/wallpapers``.
Of its 30 wallpapers, the 12 listed in :data:`PHOTOGRAPHS` are photographs (the others are
illustrations). Each is read at its largest size, converted to RGB and resized with
Lanczos to :data:`WIDTH` pixels wide (640 x 400 for the 16:10 originals), then written
as PNG to ``OUT/train/`` or ``OUT/test/``: every third photograph in alphabetical order
(4 of 12) is held out for measuring.

    apt-get install plasma-workspace-wallpapers
    python benchmarks/demo_photos.py /tmp/photos     # -> /tmp/photos/{train,test}/*.png

The output is deterministic for a given package version (``OUT/photos.json`` records
the source files and their SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from PIL import Image

WALLPAPERS = Path("/usr/share/wallpapers")
PHOTOGRAPHS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "Volna",
    "summer_1am",
)
WIDTH = 640


def largest_image(folder: Path) -> Path:
    """The largest image (by pixels) in a wallpaper's ``contents/images`` folder."""
    images = [p for p in (folder / "contents" / "images").iterdir() if p.suffix in (".jpg", ".png")]
    if not images:
        raise SystemExit(f"{folder} has no contents/images/*.jpg|png; is the package complete?")

    def pixels(p: Path) -> int:
        with Image.open(p) as im:
            return im.size[0] * im.size[1]

    return max(sorted(images), key=pixels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (train/ and test/ are made)")
    parser.add_argument("--source", type=Path, default=WALLPAPERS)
    args = parser.parse_args(argv)
    missing = [name for name in PHOTOGRAPHS if not (args.source / name).is_dir()]
    if missing:
        print(
            f"{args.source} lacks the wallpapers {', '.join(missing)}: install them with "
            "`apt-get install plasma-workspace-wallpapers` (Debian 12), or give --source.",
            file=sys.stderr,
        )
        return 2
    record = []
    for i, name in enumerate(sorted(PHOTOGRAPHS, key=str.lower)):
        split = "test" if i % 3 == 2 else "train"
        src = largest_image(args.source / name)
        with Image.open(src) as im:
            rgb = im.convert("RGB")
        height = round(rgb.size[1] * WIDTH / rgb.size[0])
        small = rgb.resize((WIDTH, height), Image.Resampling.LANCZOS)
        dest = args.out / split / f"{name}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        small.save(dest)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        record.append({"name": name, "split": split, "source": str(src), "sha256": digest})
        print(f"{split:5s} {dest}  <- {src} ({rgb.size[0]}x{rgb.size[1]})")
    (args.out / "photos.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
