"""Deliberately broken implementations, one classic bug each, for ``parity_tests/test_check.py``.

Each module is numpy_nn's own op with one mistake students (and porters) make, and defines only
that op's two functions, so the checker skips every other op:

==========================  ===================================================  ======================
module                      the bug                                              the hint it must get
==========================  ===================================================  ======================
``batch_factor``            softmax cross-entropy's backward forgets the 1/N     ``batch-size-factor``
                            of the "mean" reduction
``transposed_kernel``       conv2d's kernel gradient with height and width       ``transposed-kernel``
                            swapped
``same_padding_split``      conv2d's "same" padding with the odd extra row and   ``same-padding-split``
                            column at the top/left
``maxpool_ties``            max-pool's gradient sent to every tied maximum       ``maxpool-ties``
``softmax_unshifted``       softmax without subtracting the maximum first        ``softmax-unshifted``
==========================  ===================================================  ======================
"""

#: module -> (the op it breaks, the hint the checker must give)
BROKEN = {
    "batch_factor": ("softmax_cross_entropy", "batch-size-factor"),
    "transposed_kernel": ("conv2d", "transposed-kernel"),
    "same_padding_split": ("conv2d", "same-padding-split"),
    "maxpool_ties": ("maxpool2d", "maxpool-ties"),
    "softmax_unshifted": ("softmax", "softmax-unshifted"),
}
