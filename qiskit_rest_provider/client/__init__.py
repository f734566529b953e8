"""The client: the Qiskit provider over the REST API.

- :mod:`.provider`: :class:`~qiskit_rest_provider.QiskitRestProvider` (accounts, backends, jobs);
- :mod:`.context`: what backends, jobs and sessions share (the REST client, the Target cache);
- :mod:`.backend`: :class:`~qiskit_rest_provider.RestBackend`, a ``BackendV2``;
- :mod:`.pipeline`: check → encode → submit, shared by the primitives and ``backend.run()``;
- :mod:`.primitives`, :mod:`.options`: ``SamplerV2``/``EstimatorV2`` and their options;
- :mod:`.job`, :mod:`.backend_run`, :mod:`.session`: jobs, ``backend.run()`` results, sessions
  and batches;
- :mod:`.circuit_cache`: checked and serialized circuits, cached per circuit.

May import the HTTP layer (:mod:`qiskit_rest_provider.api`), the shared core, the vocabulary and
the exception tree; never the server. The public names are re-exported by the package root.
"""
