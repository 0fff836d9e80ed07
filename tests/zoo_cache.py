"""Zoo builds shared by the test modules of one pytest process: each default model is built at most once."""
import functools
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@functools.lru_cache(maxsize=None)
def built(name: str):
    import torch

    from mcmcore import zoo

    torch.set_num_threads(1)
    return zoo.build(name)
