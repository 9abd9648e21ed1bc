"""Texts and labels the dashboard shows: class names, abbreviations and colours,
method names, and method explanations an educator can read aloud.

Kept apart from the page code so they can be reviewed (and translated) in
one place. Plain language, a few sentences each; no claim beyond what the
method does.
"""

__all__ = [
    "METHOD_TITLES",
    "METHOD_NOTES",
    "STAGE_NOTE",
    "TRUTH_NOTE",
    "CLASS_LABELS",
    "CLASS_SHORT",
    "CLASS_COLORS",
]

#: Display name of each explanation method, on every page.
METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "rollout": "Attention rollout",
}

#: What each map shows, for reading aloud.
METHOD_NOTES = {
    "gradcam": (
        "Grad-CAM asks: if this part of the image became a little more like what it is, how much "
        "would the score for the chosen finding rise? It weighs the network's feature maps by that "
        "sensitivity and adds them up. Bright means 'evidence for the finding was found here'. "
        "It is fast and coarse: one cell of the map covers 8 by 8 pixels of the model's input at "
        "stage 3, 16 by 16 at stage 4."
    ),
    "gradcam++": (
        "Grad-CAM++ refines Grad-CAM by giving more weight to places that respond strongly, so "
        "that several separate regions of evidence (two bleeds, for example) can all show up "
        "instead of only the strongest one. Read it the same way: bright means evidence for the "
        "chosen finding."
    ),
    "scorecam": (
        "Score-CAM does not use gradients. It shows the network masked copies of the slice, "
        "each keeping only what one feature map highlights, and watches how the probability of "
        "the finding changes. Regions whose masks alone keep the probability high become bright. "
        "It is slower (one pass per mask) and often less noisy."
    ),
    "rollout": (
        "Attention rollout follows the transformer part of the network: it multiplies the "
        "attention weights of all its layers to estimate which image regions the summary token "
        "gathered information from. It is the same map whichever finding you choose, because the "
        "six findings are read from one shared summary."
    ),
}

#: Text above the row of ResNet stages.
STAGE_NOTE = (
    "The same method taken at different depths of the ResNet backbone. Earlier stages see small "
    "details at a finer grid (stage 3: 8 input pixels per cell); later stages see larger, more "
    "abstract patterns on a coarser grid (stage 4: 16 pixels per cell)."
)

#: Text explaining the ground-truth check.
TRUTH_NOTE = (
    "On phantom cases the true extent of the bleed is known. It is outlined on each map, the "
    "map's brightest point is marked with a ring, and the caption says whether that peak falls "
    "inside the outline (allowing 5 mm). A map can look convincing and still peak elsewhere."
)


#: Names shown for each class.
CLASS_LABELS = {
    "any": "Any hemorrhage",
    "epidural": "Epidural",
    "intraparenchymal": "Intraparenchymal",
    "intraventricular": "Intraventricular",
    "subarachnoid": "Subarachnoid",
    "subdural": "Subdural",
}


#: Abbreviations radiologists use, for text drawn on the image.
CLASS_SHORT = {
    "any": "any ICH",
    "epidural": "EDH",
    "intraparenchymal": "IPH",
    "intraventricular": "IVH",
    "subarachnoid": "SAH",
    "subdural": "SDH",
}


#: One colour per class (charts and ground-truth outlines), hex RGB.
CLASS_COLORS = {
    "any": "#e8e8e8",
    "epidural": "#ff6b6b",
    "intraparenchymal": "#ffa94d",
    "intraventricular": "#4dabf7",
    "subarachnoid": "#b197fc",
    "subdural": "#69db7c",
}


#: What the series-attention chart of the Attention page shows, read aloud.
SERIES_ATTENTION_NOTE = (
    "The series Transformer reads every slice beside the others. Each bar is how much the "
    "reading of the slice on screen drew on that slice (the first series block's attention, "
    "averaged over its heads; the bars sum to 1). Blood on one slice usually continues on its "
    "neighbours, and a skull-base or vertex slice looks odd on its own: this is where the model "
    "weighed the context. Thin series are read as ~5 mm slabs: a bar then stands for its slab.")
