import numpy as np

def count_windows(
    codes: np.ndarray, offsets: np.ndarray, columns: np.ndarray, base: int, k: int, out: np.ndarray
) -> None: ...
