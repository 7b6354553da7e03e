"""resonet: recurrent spiking networks of (balanced) resonate-and-fire neurons, framework-free.

The float64 NumPy reference lives in :mod:`resonet.neurons` and :mod:`resonet.network`; fast
engines are selected with :func:`resonet.backends.get_backend`.
"""

__version__ = "0.1.0"
