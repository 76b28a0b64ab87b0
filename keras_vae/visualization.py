"""The figures of `python -m keras_vae.visualize`, drawn from a SavedModel and a data set.

Everything goes through `keras_vae.handles` and `keras_vae.inference`, so the figures
of a deployed model need TensorFlow, numpy and matplotlib, but none of keras_vae's
model or training code.
"""

import dataclasses
import os

import numpy as np

from keras_vae import data as data_lib
from keras_vae import figures, handles, inference, latent
from keras_vae import model_dir as model_dir_lib
from keras_vae.errors import DataError
from keras_vae.visualize_config import LabelledImages, VisualizeConfig, class_index, load_images

FIGURES = (
    "encodings.png",
    "reconstruction.png",
    "samples.png",
    "manifold.png",
    "interpolation.png",
    "traversal.png",
    "arithmetic.png",
)


def _save_encodings(path, c: VisualizeConfig, means, labels, data, what="") -> dict:
    """The posterior means by class: as they are in 2-D, else their first two principal
    components. Returns the projection's note for visualize.json ({} in 2-D)."""
    if means.shape[1] == 2:
        points, axes, title, note = (
            means,
            ("z[0] (posterior mean)", "z[1] (posterior mean)"),
            "",
            {},
        )
    else:
        points, ratio = latent.principal_components(means, 2)
        axes = tuple(
            f"principal component {i + 1} ({r:.0%} of variance)" for i, r in enumerate(ratio)
        )
        title = f" (PCA of the {means.shape[1]}-D posterior means)"
        note = {"encodings_projection": {"method": "pca", "explained": [float(r) for r in ratio]}}
    figures.save_encodings(
        path,
        points,
        labels,
        data.class_names,
        title=f"{c.split.capitalize()}-set encodings{what}{title}",
        axis_names=axes,
    )
    return note


def _class_name(index: int, class_names) -> str:
    return class_names[index] if index < len(class_names) else str(index)


def draw(c: VisualizeConfig, model, data: LabelledImages, print_fn=print) -> dict:
    """Writes the figures of FIGURES into `c.out` (all but arithmetic.png for data without
    labels); returns what was drawn and how."""
    data_lib.check_image_shape(data.images.shape[1:], model.image_shape)
    images, labels = data.images, data.labels
    # Every check before the first file is written: a bad class must not cost a figure.
    if model.num_classes:
        return _draw_conditional(c, model, data, print_fn)
    if data.labelled:
        towards = class_index(c.towards, data.class_names, labels)
        away = class_index(c.away_from, data.class_names, labels)
    drawn = [name for name in FIGURES if data.labelled or name != "arithmetic.png"]
    if not figures.is_picture(images.shape[1:]):
        drawn = ["encodings.png"]
    if len(images) < 2:
        raise DataError(f"the {c.split} split has {len(images)} images; the figures need 2")
    os.makedirs(c.out, exist_ok=True)
    out = lambda name: os.path.join(c.out, name)  # noqa: E731
    notes = {}

    mean, log_variance = inference.posterior(model, images)
    kl = latent.kl_per_dimension(mean, log_variance)
    ranked = latent.most_informative_dimensions(kl, model.latent_dims)

    shown = slice(0, c.max_encodings)
    notes.update(_save_encodings(out("encodings.png"), c, mean[shown], labels[shown], data))
    if not figures.is_picture(images.shape[1:]):
        notes["skipped"] = (
            f"the examples are of shape {tuple(images.shape[1:])}, not grey [H, W] or colour "
            "[H, W, 3] images: only the encodings are drawn (reconstructions, samples, the "
            "manifold, interpolations, traversals and arithmetic would be pictures)"
        )
        return _report(c, drawn, images, data, notes, out, print_fn)

    examples = images[: c.num_examples]
    figures.save_reconstructions(
        out("reconstruction.png"), examples, inference.reconstruct(model, examples)
    )
    figures.save_samples(out("samples.png"), inference.sample(model, c.num_samples, c.seed))

    dims = (0, 1) if model.latent_dims == 2 else tuple(ranked[:2])
    note = "" if model.latent_dims == 2 else "\n(the two dimensions with the largest KL; others 0)"
    figures.save_manifold(
        out("manifold.png"),
        inference.decode_quantile_grid(model, c.manifold_size, dims),
        c.manifold_size,
        dims,
        note,
    )
    notes["manifold_dims"] = list(dims)

    pairs = min(c.pairs, len(images) // 2)
    start, end = images[:pairs], images[pairs : 2 * pairs]
    figures.save_interpolations(
        out("interpolation.png"),
        inference.interpolate(model, start, end, c.steps, "linear"),
        inference.interpolate(model, start, end, c.steps, "spherical"),
    )

    swept = ranked[: c.traversal_dims]
    values = np.linspace(-c.traversal_range, c.traversal_range, c.traversal_steps)
    figures.save_traversal(
        out("traversal.png"), inference.traverse(model, images[0], swept, values), swept, values, kl
    )
    notes["traversal_dims"] = swept

    if data.labelled:
        vector = latent.attribute_vector(mean, labels, towards, away)
        targets = images[labels == away][: c.arithmetic_images]
        figures.save_arithmetic(
            out("arithmetic.png"),
            inference.add_attribute(model, targets, vector, c.strengths),
            c.strengths,
            _class_name(towards, data.class_names),
            _class_name(away, data.class_names),
        )
        notes["arithmetic"] = {
            "towards": towards,
            "away_from": away,
            "strengths": list(c.strengths),
        }
    else:
        notes["arithmetic"] = "not drawn: the data has no labels to take class means of"

    return _report(c, drawn, images, data, notes, out, print_fn)


def _report(c, drawn, images, data, notes, out, print_fn) -> dict:
    report = {
        "config": dataclasses.asdict(c),
        "figures": drawn,
        "num_images": len(images),
        "data_source": data.source,
        **notes,
    }
    model_dir_lib.write_json(out("visualize.json"), report)
    for name in drawn:
        print_fn(f"wrote {out(name)}")
    return report


CONDITIONAL_FIGURES = ("encodings.png", "reconstruction.png", "class_samples.png", "analogies.png")


def _draw_conditional(c: VisualizeConfig, model, data: LabelledImages, print_fn) -> dict:
    """A conditional model's figures: every code is of an image and its label."""
    if not data.labelled or int(data.labels.max()) >= model.num_classes:
        raise DataError(
            f"this conditional model takes labels from 0 to {model.num_classes - 1}; "
            "the data's do not fit"
        )
    os.makedirs(c.out, exist_ok=True)
    out = lambda name: os.path.join(c.out, name)  # noqa: E731
    images, labels = data.images, data.labels
    shown = slice(0, c.max_encodings)
    means = inference.encode_means(model, images[shown], labels[shown])
    _save_encodings(out("encodings.png"), c, means, labels[shown], data, " of q(z|x, y)")
    examples = slice(0, c.num_examples)
    figures.save_reconstructions(
        out("reconstruction.png"),
        images[examples],
        inference.reconstruct(model, images[examples], labels[examples]),
    )
    classes = np.arange(model.num_classes)
    per_class = min(10, max(1, c.num_samples // model.num_classes))
    z = model.sample_latents(per_class, c.seed)
    grid = inference.decode(model, np.tile(z, (len(classes), 1, 1)), np.repeat(classes, per_class))
    figures.save_class_samples(out("class_samples.png"), grid, data.class_names)
    rows = slice(0, c.arithmetic_images)
    frames = inference.transfer(model, images[rows], labels[rows], classes)
    figures.save_analogies(out("analogies.png"), images[rows], frames, data.class_names)
    report = {
        "config": dataclasses.asdict(c),
        "figures": list(CONDITIONAL_FIGURES),
        "num_images": len(images),
        "data_source": data.source,
        "conditional": True,
    }
    model_dir_lib.write_json(out("visualize.json"), report)
    for name in CONDITIONAL_FIGURES:
        print_fn(f"wrote {out(name)}")
    return report


def visualize(c: VisualizeConfig, data: LabelledImages | None = None, print_fn=print) -> dict:
    """Loads the SavedModel (and the data, unless given) that `c` names, and draws."""
    data = data if data is not None else load_images(c)
    model = handles.load_saved_model(c.saved_model)
    return draw(c, model, data, print_fn)
