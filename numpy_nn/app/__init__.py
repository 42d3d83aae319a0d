"""The application: the ``numpy-nn`` command line and what it drives, outside the library.

==================  ==============================================================================
``cli``             ``numpy-nn train`` (also ``python -m numpy_nn``): arguments, errors, exit status;
                    the other subcommands (``COMMANDS``) each in their own module:
``diverge``         ``numpy-nn diverge``: where numpy_nn's and TensorFlow's lockstep trainings part
``divergence*``     its four runs (``divergence``), rule (``_rule``), op-by-op localiser (``_localise``),
                    figure (``_plot``)
``check``           ``numpy-nn check``: runs the checkout's ``parity_tests.check`` on your own ops;
                    ``check_template`` is the template it writes
``driver``          one tutorial model in NumPy, TensorFlow or both side by side, through
                    :func:`numpy_nn.loop.run_epoch`; checkpoints after every epoch
``resume``          the checkpoint files of a run, resuming them bit for bit, options vs saved settings
``results``         per-framework runs and per-model results, the printed table, ``metrics.json``
``plots``           the figures (matplotlib, imported inside the functions)
``environment``     the configuration record every result carries (CPU, oneDNN, BLAS, threads)
``errors``          ``UsageError`` (exit status 2), ``OutputError`` (1)
==================  ==============================================================================

The only part of numpy_nn that may import tf_nn or matplotlib, and only lazily (inside the function
that needs them), so that ``import numpy_nn.app.cli`` still imports NumPy and numpy_nn alone
(``parity_tests/test_import_graph.py`` checks the rest of the package).
"""
