"""A neuron model that is not part of resonet, in its own package, added the way a user adds one:
its three files (``neurons/lifhard.py``, ``kernels/cpu/lifhard.py``, ``kernels/cuda/lifhard.py``,
the mirrored trees of resonet) and one ``resonet.neurons.register`` call. tests/test_new_model.py
copies this package to a temporary folder, registers the model from there and runs it through
verify, gradcheck, training and the analyses; tests/cudasim/test_cuda_new_model.py runs its
CUDA kernels."""
