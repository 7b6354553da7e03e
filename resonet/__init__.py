"""resonet: recurrent spiking networks of (balanced) resonate-and-fire neurons, framework-free.

The float64 NumPy reference lives in :mod:`resonet.neurons` and :mod:`resonet.network`; fast
engines are selected with :func:`resonet.backends.get_backend`.

The Python API (imported on first use, so ``import resonet`` stays light):

- :func:`load_run` -- a trained network from its run directory (:class:`resonet.api.Run`:
  ``.spec``, ``.params``, ``.predict(x)``, ``.evaluate(data)``, ``.forward(x, return_states=True)``);
- :func:`train_run` -- training from Python, as ``python -m resonet.train`` (settings in, the
  finished :class:`resonet.api.Run` with its ``.path`` and ``.summary`` out);
- :func:`fit` -- training on your own data: ``resonet.fit((x, y), test=(x_test, y_test))``, or
  event splits, or tonic data sets (:mod:`resonet.fitting`).
"""

from ._version import __version__

__all__ = ["Run", "__version__", "fit", "load_run", "train_run"]


def __getattr__(name: str):
    if name in ("load_run", "train_run", "Run"):
        from . import api

        return getattr(api, name)
    if name == "fit":
        from .fitting import fit

        return fit
    raise AttributeError(f"module 'resonet' has no attribute {name!r}")
