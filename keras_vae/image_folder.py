"""A folder of PNG and JPEG images as a data set (`--dataset=images:DIR`), streamed from disk.

Class subfolders give the labels, in sorted order, as
`keras.utils.image_dataset_from_directory` reads them; a folder of images without
subfolders is unlabelled. Listing the folder reads each file's header only (Pillow),
which is enough to check sizes and colour; the pixels are decoded when a batch needs
them, by TensorFlow (`decode`), so a folder larger than memory trains.

`ImageFiles` stands where the other sources hold a numpy array: it has a length, a
shape and a dtype, `take(indices)` gives another lazy selection (a split), and
indexing decodes the selected images into a uint8 numpy array (figures, curves).
"""

import hashlib
import os

import numpy as np

from keras_vae.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg")
# Pillow modes of grey images; anything else is read as RGB (alpha dropped).
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


class ImageFiles:
    """Image files of one size, decoded on demand: uint8 [N, H, W] (grey) or [N, H, W, 3]."""

    dtype = np.dtype(np.uint8)

    def __init__(self, paths, image_size: tuple[int, int], channels: int, resize: bool):
        self.paths = np.asarray(paths, dtype=object)
        self.image_size = tuple(image_size)
        self.channels = channels
        self.resize = resize

    @property
    def shape(self) -> tuple:
        per_image = self.image_size if self.channels == 1 else (*self.image_size, self.channels)
        return (len(self.paths), *per_image)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, indices) -> "ImageFiles":
        """The images at `indices` (or a slice), still on disk."""
        return ImageFiles(self.paths[indices], self.image_size, self.channels, self.resize)

    def decode_fn(self):
        """A TensorFlow function: file path (string scalar) -> uint8 image of `shape[1:]`."""
        return decoder(self.image_size, self.channels, self.resize)

    def __getitem__(self, index) -> np.ndarray:
        import tensorflow as tf  # Only when pixels are needed.

        if isinstance(index, (int, np.integer)):
            return self[[index]][0]
        selected = self.paths[index]
        decode = self.decode_fn()
        if not len(selected):
            return np.zeros((0, *self.shape[1:]), np.uint8)
        return np.stack([decode(tf.constant(p)).numpy() for p in selected])


def decoder(image_size, channels: int, resize: bool):
    import tensorflow as tf

    def decode(path):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=channels, dtype=tf.uint8, expand_animations=False
        )
        if resize:
            # Bilinear with antialiasing, as image_dataset_from_directory, then back to bytes.
            image = tf.image.resize(image, image_size, antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        image = tf.ensure_shape(image, [*image_size, channels])
        return image[..., 0] if channels == 1 else image

    return decode


def _image_files(folder: str) -> list[str]:
    names = sorted(os.listdir(folder))
    return [
        os.path.join(folder, n)
        for n in names
        if n.lower().endswith(EXTENSIONS) and os.path.isfile(os.path.join(folder, n))
    ]


def files_under(folder: str) -> list[str]:
    """The PNG and JPEG files in `folder` and its subfolders, in sorted order."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        files += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(EXTENSIONS)]
    return files


def header(path: str) -> tuple[tuple[int, int], str]:
    """((height, width), Pillow mode) of an image file, from its header alone."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            return (height, width), image.mode
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"{path} is not a readable PNG or JPEG image ({e})") from None


def list_images(folder: str) -> tuple[list[str], np.ndarray | None, tuple[str, ...]]:
    """(file paths, labels or None, class names): class subfolders give labels."""
    if not os.path.isdir(folder):
        raise DataError(f"image folder {folder} does not exist")
    classes = sorted(
        n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n)) and n[0] != "."
    )
    top = _image_files(folder)
    if classes and top:
        raise DataError(
            f"{folder} holds both images ({os.path.basename(top[0])}, ...) and class "
            f"subfolders ({', '.join(classes[:3])}): put every image in a class folder, or "
            "none"
        )
    if not classes:
        if not top:
            raise DataError(f"image folder {folder} holds no PNG or JPEG files")
        return top, None, ()
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = files_under(os.path.join(folder, name))
        if not files:
            raise DataError(f"class folder {os.path.join(folder, name)} holds no PNG or JPEG files")
        paths += files
        labels += [label] * len(files)
    return paths, np.asarray(labels, np.int64), tuple(classes)


def read(
    folder: str, image_size: tuple[int, int] | None
) -> tuple[ImageFiles, np.ndarray | None, tuple, dict]:
    """The folder's images (lazy), labels, class names and a record of what was read.

    Every file's header is read: a file that is not an image is named, and so are
    mixed sizes without `image_size` (to resize to). Grey if every image is grey.
    """
    paths, labels, classes = list_images(folder)
    sizes, grey = {}, True
    digest = hashlib.sha256()
    for path in paths:
        size, mode = header(path)
        sizes.setdefault(size, path)
        grey = grey and mode in GREY_MODES
        relative = os.path.relpath(path, folder)
        digest.update(f"{relative}\0{os.path.getsize(path)}\0".encode())
    if image_size is None and len(sizes) > 1:
        (a, path_a), (b, path_b) = list(sizes.items())[:2]
        raise DataError(
            f"{folder} holds images of different sizes ({path_a} is {a[0]}x{a[1]}, {path_b} is "
            f"{b[0]}x{b[1]}): pass --image_size=H,W to resize them all"
        )
    size = tuple(image_size) if image_size is not None else next(iter(sizes))
    resize = image_size is not None and set(sizes) != {size}
    record = {
        "num_files": len(paths),
        "channels": 1 if grey else 3,
        # Names and sizes of the files: a folder that changed is not the run's data.
        "listing_sha256": digest.hexdigest(),
        "image_size": list(size),
        "resized": resize,
        # What new images are resized to when scored (None: they must be of this size).
        "resize_to": list(image_size) if image_size is not None else None,
    }
    return ImageFiles(paths, size, 1 if grey else 3, resize), labels, classes, record
