"""Train the CranioScan model: ``python train.py --data phantom|rsna --out runs/NAME``."""
