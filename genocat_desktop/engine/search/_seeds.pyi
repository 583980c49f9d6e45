import numpy as np

def count_seeds(
    codes: np.ndarray, offsets: np.ndarray, first: int, last: int, shape: np.ndarray, span: int,
    lut: np.ndarray, alpha: int, stride: int, counts: np.ndarray,
) -> None: ...
def fill_seeds(
    codes: np.ndarray, offsets: np.ndarray, first: int, last: int, shape: np.ndarray, span: int,
    lut: np.ndarray, alpha: int, stride: int, cursor: np.ndarray, postings: np.ndarray,
) -> None: ...
def similar_seeds(
    query: np.ndarray, shape: np.ndarray, span: int, lut: np.ndarray, alpha: int, matrix: np.ndarray,
    threshold: float, limit: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def hsp_hits(
    keys: np.ndarray, bounds: np.ndarray, starts: np.ndarray, postings: np.ndarray, offsets: np.ndarray,
    block_row: np.ndarray, block_shift: int, allowed: np.ndarray, use_allowed: bool, skip: np.ndarray,
    query: np.ndarray, codes: np.ndarray, matrix: np.ndarray, span: int, xdrop: int, touched: np.ndarray,
    state: np.ndarray,
) -> int: ...
