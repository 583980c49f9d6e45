import numpy as np

def fit_joints(
    p: np.ndarray, q: np.ndarray, scores: np.ndarray, lam: float, target: float
) -> tuple[np.ndarray, np.ndarray]: ...
