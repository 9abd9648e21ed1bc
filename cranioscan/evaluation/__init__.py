"""How good a model is: metrics, run-folder reports, held-out evaluation, model card.

- :mod:`.metrics`: AUC with bootstrap intervals, operating points, log loss, summary;
- :mod:`.curves`: per-class ROC, precision-recall and calibration curves;
- :mod:`.reports`: run folders (validation predictions -> metrics, ROC, plots);
- :mod:`.heldout`: the held-out phantom test set (AUC and Grad-CAM localisation);
- :mod:`.localisation`: where map peaks land, swept over layers and methods;
- :mod:`.model_card`: ``model/model_card.json``.
"""
