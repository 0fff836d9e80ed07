"""Models the executor can run from the command line: zoo models (random weights) and saved exported programs."""
from __future__ import annotations

from pathlib import Path

from mcmcore.errors import MCMError

__all__ = ["load_model"]


def load_model(spec: str, **options):
    """A runnable model and its example inputs.

    Parameters
    ----------
    spec : str
        A zoo model name (built in code with the seed-0 random weights of :func:`mcmcore.zoo.build`, so its graph
        is the zoo graph a placement was searched on), or a ``.pt2`` file written by ``torch.export.save`` (its
        stored example inputs are used).
    **options
        Zoo options (``batch``, ``seq``, ``image_size``); None values are ignored.

    Returns
    -------
    (model, example_inputs)
        ``model`` is a ``torch.nn.Module`` in eval mode or a ``torch.export.ExportedProgram``.
    """
    try:
        import torch
    except ImportError:
        raise MCMError("running a model needs torch (pip install 'mcmcore[models]')") from None
    options = {k: v for k, v in options.items() if v is not None}
    path = Path(spec)
    if path.suffix == ".pt2":
        from mcmcore.io.torch_export import load_exported_program

        ep = load_exported_program(path)
        example = getattr(ep, "example_inputs", None)
        if not example:
            raise MCMError(f"{spec}: the exported program stores no example inputs")
        args, _kwargs = example
        return ep, tuple(args)
    from mcmcore import zoo

    entry = zoo._entry(spec)
    unknown = set(options) - set(entry.defaults)
    if unknown:
        raise MCMError(f"zoo model {spec!r} has no option {sorted(unknown)[0]!r} (options: "
                       f"{', '.join(entry.defaults)})")
    opts = {**entry.defaults, **options}
    torch.manual_seed(0)  # as zoo.build does
    try:
        module = entry.module(opts["image_size"]) if spec == "vit-b16" else entry.module()
    except ImportError as exc:
        raise MCMError(f"zoo model {spec!r} needs {exc.name or 'transformers'} (pip install 'mcmcore[models]')") \
            from None
    module.eval()
    if entry.kind == "text":
        example = torch.randint(0, 1000, (opts["batch"], opts["seq"]))
    else:
        example = torch.randn(opts["batch"], 3, opts["image_size"], opts["image_size"])
    return module, (example,)
