"""jpegai_eval.testing: the contract checks pass on real codecs and catch broken ones.

Every broken codec here breaks exactly one rule, the way a plugin author could by
mistake, and the check must name that rule.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import jpegai_eval
from jpegai_eval import BitstreamError, Codec, CodecModel, Sample, Task
from jpegai_eval.framework.api.plugins import make_plugin_manager
from jpegai_eval.testing import ContractError, check_codec, check_task


def test_public_api_is_importable_without_torch():
    code = (
        "import sys\n"
        "import jpegai_eval as j\n"
        "names = [j.Codec, j.CodecModel, j.LatentSpec, j.Header, j.Task, j.Sample, j.Anchor,\n"
        "         j.ReportWriter, j.hookimpl, j.UserError, j.BitstreamError]\n"
        "heavy = [m for m in ('torch', 'numpy', 'tensorflow') if m in sys.modules]\n"
        "j.testing.check_codec, j.testing.check_task\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"import jpegai_eval imported {result.stdout}"


def test_all_names_the_public_api():
    assert set(jpegai_eval.__all__) >= {
        "TaskOption",
        "hookimpl",
        "Codec",
        "CodecModel",
        "Decoded",
        "LatentSpec",
        "Header",
        "Task",
        "Sample",
        "Anchor",
        "ReportWriter",
        "UserError",
        "BitstreamError",
        "testing",
    }
    for name in jpegai_eval.__all__:
        assert getattr(jpegai_eval, name) is not None
    with pytest.raises(AttributeError):
        jpegai_eval.no_such_name  # noqa: B018


def test_readme_documents_decoded_and_weights_id_for_codec_authors():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Writing a codec plugin")[1].split("\n## ")[0]
    assert "jpegai_eval.Decoded(" in section and "_decode_stages(" in section
    assert "weights_id=" in section and "q<quality>-<weights_id in hex>" in section
    assert "untrained analysis transform?" in section
    assert "`Decoded`" in readme.split("## Plugin API")[1]


def test_a_plugin_codec_implements_the_staged_decode_with_the_public_decoded():
    class OnePass(RawModel):
        def _decode_stages(self, payload, header, *, image, latents):
            out = jpegai_eval.Decoded(header, only={"decode": "image"})
            out.image = self._decode_payload(payload, header)
            out.times["decode"] = 0.5
            return out

    model = OnePass(RawCodec(), 1)
    data = model.encode(np.zeros((4, 6, 3), np.uint8))
    out = model.decode_stages(data)
    assert out.image.shape == (4, 6, 3) and out.latents is None
    assert out.decode_time >= 0.5 and "open" in out.times


# ------------------------------------------------------------------ codecs that pass


@pytest.fixture(scope="module")
def builtins():
    return make_plugin_manager(load_external=False).codecs


@pytest.mark.parametrize("key", ["jpeg/pillow", "webp/pillow"])
def test_pillow_codecs_keep_the_contract(builtins, key):
    codec = builtins.get(key)
    for quality in (codec.qualities[0], codec.qualities[-1]):
        report = check_codec(codec, quality, min_psnr=15)
        assert report.bytes > 0
        assert report.bpp == pytest.approx(8 * report.bytes / (report.height * report.width))
        assert report.latent_shape is None and report.guarded == []
        assert "truncated (last byte missing)" in report.refused


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from jpegai_eval.codecs.testing import write_tiny_checkpoint

    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    write_tiny_checkpoint(path, quality=None)
    return str(path)


def test_hyperprior_keeps_the_contract_with_g_s_and_g_a_guarded(builtins, tiny_weights):
    codec = builtins.get("hyperprior-msssim/compressai")
    report = check_codec(codec, 2, tiny_weights)
    assert report.latent_shape == (12, 5, 6)  # M=12, ceil(72/16) x ceil(88/16)
    assert {"model.net.g_s", "model.net.g_a", "model.decode()"} <= set(report.guarded)
    assert "re-labelled (other weights)" in report.refused


# ------------------------------------------------------------------ broken codecs


class RawModel(CodecModel):
    """Raw RGB bytes: a correct pixel codec that broken ones below change."""

    def _encode_payload(self, image):
        return image.tobytes(), ()

    def _decode_payload(self, payload, header):
        if len(payload) != header.height * header.width * 3:
            raise BitstreamError("the raw payload has the wrong size")
        return np.frombuffer(payload, np.uint8).reshape(header.height, header.width, 3)


class RawCodec(Codec):
    id = "raw"
    backend = "test"
    qualities = (1,)
    model_class: type[CodecModel] = RawModel

    def load(self, quality, weights=None, device="cpu", weights_dir=None):
        return self.model_class(self, self.check_quality(quality))


def broken(model_class: type[CodecModel], **attrs) -> Codec:
    cls = type("Broken" + model_class.__name__, (RawCodec,), {"model_class": model_class})
    codec = cls()
    for k, v in attrs.items():
        setattr(codec, k, v)
    return codec


def test_the_raw_reference_codec_passes():
    assert check_codec(RawCodec(), 1, min_psnr=100).psnr == float("inf")


def test_uncropped_decode_fails():
    class Padded(RawModel):
        def _decode_payload(self, payload, header):
            image = super()._decode_payload(payload, header)
            return np.pad(image, ((0, 8), (0, 8), (0, 0)))

    with pytest.raises(ContractError, match=r"original size; got ndarray of shape \(80, 96, 3\)"):
        check_codec(broken(Padded), 1)


def test_float_decode_fails():
    class Floats(RawModel):
        def _decode_payload(self, payload, header):
            return super()._decode_payload(payload, header).astype(np.float32)

    with pytest.raises(ContractError, match="uint8 image .* dtype float32"):
        check_codec(broken(Floats), 1)


def test_a_header_that_lies_fails():
    class Liar(RawModel):
        def encode(self, image):
            from jpegai_eval.framework.api.bitstream import Header, pack

            payload, _ = self._encode_payload(image)
            h, w = image.shape[:2]
            return pack(Header(self.codec.id, self.codec.backend, 2, h, w), payload)

    with pytest.raises(ContractError, match="header names the codec, backend, quality"):
        check_codec(broken(Liar), 1)


def test_a_bare_payload_instead_of_a_jai_file_fails():
    class Bare(RawModel):
        def encode(self, image):
            return self._encode_payload(image)[0]

    with pytest.raises(ContractError, match="complete .jai file; it starts with"):
        check_codec(broken(Bare), 1)

    class Array(RawModel):
        def encode(self, image):
            return np.frombuffer(super().encode(image), np.uint8)

    with pytest.raises(ContractError, match=r"encode\(\) returns bytes .*got ndarray"):
        check_codec(broken(Array), 1)


def test_decode_that_needs_state_from_encode_fails():
    class Stateful(RawModel):
        def _encode_payload(self, image):
            self.last = image
            return b"x", ()

        def _decode_payload(self, payload, header):
            return self.last

    with pytest.raises(ContractError, match="file holds everything decode\\(\\) needs"):
        check_codec(broken(Stateful), 1)


def test_decode_that_skips_the_container_check_fails():
    class Lenient(RawModel):
        def decode(self, data):
            try:
                return super().decode(data)
            except BitstreamError:
                return np.zeros((72, 88, 3), np.uint8)  # "robust": never refuses

    with pytest.raises(ContractError, match="of a empty file is refused .*accepted"):
        check_codec(broken(Lenient), 1)


def test_decode_that_ignores_the_header_quality_fails():
    class Unchecked(RawModel):
        def decode(self, data):
            from jpegai_eval.framework.api.bitstream import unpack

            header, payload = unpack(data)  # checks the CRC, not whose file it is
            return self._decode_payload(payload, header)

    with pytest.raises(ContractError, match=r"re-labelled \(another codec\) file is refused"):
        check_codec(broken(Unchecked), 1)


def test_garbage_payload_crash_fails():
    class Crashes(RawModel):
        def _decode_payload(self, payload, header):
            return np.frombuffer(payload, np.uint8).reshape(header.height, header.width, 3)

    with pytest.raises(ContractError, match="empty payload raises BitstreamError .*ValueError"):
        check_codec(broken(Crashes), 1)


def test_load_without_weights_dir_fails_and_is_refused_at_registration():
    class OldStyle(RawCodec):
        def load(self, quality, weights=None, device="cpu"):
            return RawModel(self, quality)

    with pytest.raises(ContractError, match=r"declares quality, weights, device, weights_dir"):
        check_codec(OldStyle(), 1)

    from jpegai_eval import hookimpl

    class Plugin:
        @hookimpl
        def register_codecs(self, register):
            register(OldStyle())

    plugins = make_plugin_manager(load_external=False)
    plugins.pm.register(Plugin(), name="old-style-plugin")
    with pytest.raises(TypeError, match="old-style-plugin.*raw/test.*lacks weights_dir"):
        plugins.codecs  # noqa: B018


def test_pixel_codec_that_offers_latents_fails():
    class Offers(RawModel):
        def latents(self, data):
            return {}

    with pytest.raises(ContractError, match="without a compressed domain refuses latents"):
        check_codec(broken(Offers), 1)


# --------------------------------------------- compressed domains that are not from the file


def hyperprior(patch):
    """A tiny CompressAI hyperprior whose models' latents() are changed by ``patch``."""
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
    from jpegai_eval.codecs.testing import tiny_network

    class Patched(CompressAIHyperprior):
        def load(self, quality, weights=None, device="cpu", weights_dir=None):
            model = self.from_network(quality, tiny_network())
            patch(model)
            return model

    return Patched("ms-ssim")


def test_latents_through_g_s_fail():
    def patch(model):
        original = model._latents_payload

        def latents_payload(payload, header):
            out = original(payload, header)
            import torch

            model.net.g_s(torch.from_numpy(out["y_hat"][None]))  # e.g. for a "check"
            return out

        model._latents_payload = latents_payload

    with pytest.raises(ContractError, match=r"model.net.g_s ran where the contract forbids"):
        check_codec(hyperprior(patch), 1)


def test_latents_by_decoding_and_re_analysing_fail():
    def patch(model):
        def latents_payload(payload, header):
            import torch

            image = model._decode_payload(payload, header)  # g_s, then g_a: not the file's
            with torch.no_grad():
                y = model.net.g_a(model.to_input(image))
            return {"y_hat": torch.round(y)[0].numpy(), "sigma_hat": y.abs()[0].numpy()}

        model._latents_payload = latents_payload

    with pytest.raises(ContractError, match=r"model._decode_payload\(\) ran"):
        check_codec(hyperprior(patch), 1)


def test_latents_kept_from_encode_fail():
    def patch(model):
        encode_payload = model._encode_payload
        latents_payload = model._latents_payload

        def keep(image):
            payload, shape = encode_payload(image)
            model.kept = payload
            return payload, shape

        def from_memory(payload, header):
            return latents_payload(model.kept, header)

        model._encode_payload = keep
        model._latents_payload = from_memory

    with pytest.raises(ContractError, match="latents\\(\\) (depend on the file only|run)"):
        check_codec(hyperprior(patch), 1)


def test_a_learned_model_without_weights_id_fails_naming_the_fix():
    def patch(model):
        model.weights_id = b""

    with pytest.raises(ContractError, match=r"weights_id is empty.*q1-none.*weights_id=\.\.\."):
        check_codec(hyperprior(patch), 1)


def test_a_pixel_model_holding_a_torch_module_without_weights_id_fails():
    import torch

    class Holds(RawModel):
        def __init__(self, codec, quality):
            super().__init__(codec, quality)
            self.net = torch.nn.Linear(2, 2)

    with pytest.raises(ContractError, match="weights_id is empty"):
        check_codec(broken(Holds), 1)


def test_an_untrained_analysis_transform_is_named_as_the_cause():
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
    from jpegai_eval.codecs.testing import tiny_network

    class Untrained(CompressAIHyperprior):
        def load(self, quality, weights=None, device="cpu", weights_dir=None):
            return self.from_network(quality, tiny_network(gain=1.0))  # |y| < 0.5

    with pytest.raises(ContractError) as caught:
        check_codec(Untrained("ms-ssim"), 1)
    message = str(caught.value)
    assert "two different images give one y_hat" in message
    assert "|y| < 0.5 everywhere: untrained analysis transform?" in message


def test_uncropped_latents_fail():
    def patch(model):
        model.latent_shape = lambda h, w: (int(model.net.M), -(-h // 64) * 4, -(-w // 64) * 4)

    with pytest.raises(ContractError, match=r"y_hat has the LatentSpec's shape .*\(12, 8, 8\)"):
        check_codec(hyperprior(patch), 1)


# --------------------------------------------------------------------------- tasks


@pytest.fixture(scope="module")
def minc_root(tmp_path_factory):
    from jpegai_eval.tasks import demo

    return demo.write_demo_dataset(tmp_path_factory.mktemp("minc") / "d", per_class=3, size=32)


def test_minc_keeps_the_task_contract(minc_root):
    from jpegai_eval.tasks.minc import MincTask

    report = check_task(MincTask(), minc_root, max_images=4)
    assert report.classes == 23
    assert report.counts["train"] > 0 and report.counts["test"] > 0
    assert report.read == {"train": 4, "test": 4}


class FolderTask(Task):
    """A tiny correct task: ROOT/<split>/<class>/*.png, two classes."""

    id = "folder"

    @property
    def classes(self):
        return ("a", "b")

    def samples(self, split, data_root=None, **options):
        from jpegai_eval import DatasetError, UsageError

        if split not in ("train", "test"):
            raise UsageError(f"Unknown split {split!r}")
        root = Path(data_root)
        if not (root / split).is_dir():
            raise DatasetError(f"{root} has no {split}/ folder")
        return [
            Sample(f"{split}/{c}/{p.name}", p, i)
            for i, c in enumerate(self.classes)
            for p in sorted((root / split / c).glob("*.png"))
        ]

    def build_classifier(self, domain, latent_spec=None):
        return None

    def train(self, *args, **kwargs):
        return None

    def eval_batch(self, sources, domain, preset):
        return None


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    from jpegai_eval.testing import synthetic_image

    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            Image.fromarray(synthetic_image(16, 16)).save(tmp_path / split / c / "x.png")
    return tmp_path


def test_the_folder_reference_task_passes(folder):
    assert check_task(FolderTask(), folder).counts == {"train": 2, "test": 2}


def test_label_out_of_range_fails(folder):
    class OffByOne(FolderTask):
        def samples(self, split, **options):
            return [replace(s, label=s.label + 1) for s in super().samples(split, **options)]

    with pytest.raises(ContractError, match="labels are in range.*has label 2"):
        check_task(OffByOne(), folder)


def test_image_in_two_splits_fails(folder):
    class Leaky(FolderTask):
        def samples(self, split, **options):
            return super().samples("train", **options)

    with pytest.raises(ContractError, match="no image is in two splits"):
        check_task(Leaky(), folder)


def test_unreadable_sample_fails(folder):
    (folder / "test" / "b" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ContractError, match="'test/b/x.png' is a readable image"):
        check_task(FolderTask(), folder)


def test_empty_split_fails(folder):
    for p in (folder / "test").rglob("*.png"):
        p.unlink()
    with pytest.raises(ContractError, match=r"samples\('test'\) is a non-empty list"):
        check_task(FolderTask(), folder)


def test_missing_root_that_is_not_a_user_error_fails(folder):
    class Raw(FolderTask):
        def samples(self, split, data_root=None, **options):
            if not Path(data_root).exists():
                raise FileNotFoundError(data_root)  # a traceback for the user
            return super().samples(split, data_root=data_root, **options)

    with pytest.raises(ContractError, match="does not exist is a UserError .*FileNotFoundError"):
        check_task(Raw(), folder)


def test_unknown_split_that_is_silently_empty_fails(folder):
    class Silent(FolderTask):
        def samples(self, split, **options):
            if split not in ("train", "test"):
                return []
            return super().samples(split, **options)

    with pytest.raises(ContractError, match="an unknown split is a UserError; samples"):
        check_task(Silent(), folder)


def test_the_task_contract_is_checked_on_the_signatures(folder):
    class Current(FolderTask):
        def build_classifier(self, domain, latent_spec=None, *, preset=None):
            return None

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        check_task(Current(), folder)  # the whole contract: no warning
    with pytest.warns(DeprecationWarning, match=r"build_classifier\(\) does not take preset"):
        check_task(FolderTask(), folder)  # written before preset: still runs

    class NoSeed(Current):
        def train(self, model, items, *, preset, domain, out_dir, device, workers):
            return None

    with pytest.raises(ContractError, match=r"train\(\) takes every argument.*seed"):
        check_task(NoSeed(), folder)
