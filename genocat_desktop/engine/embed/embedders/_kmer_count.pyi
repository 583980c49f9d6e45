import numpy as np

def count_windows(
    codes: np.ndarray, offsets: np.ndarray, columns: np.ndarray, base: int, k: int, out: np.ndarray
) -> None: ...
def count_neighbours(
    codes: np.ndarray,
    offsets: np.ndarray,
    heads: np.ndarray,
    more: np.ndarray,
    starts: np.ndarray,
    flat: np.ndarray,
    mean: np.ndarray,
    base: int,
    k: int,
    out: np.ndarray,
) -> None: ...

DUMMIES: int
