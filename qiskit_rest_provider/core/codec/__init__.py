"""The wire formats of job inputs and results, shared by the client and the local service.

Every decoder here treats its input as hostile: it runs in linear time and checks every size a
document declares before allocating anything of that size.

- :mod:`qiskit_rest_provider.core.codec.ndarray`: the ``ndarray`` wrapper (base64 of zlib of
  ``.npy`` bytes), without pickle, under a budget of decoded bytes.
- :mod:`qiskit_rest_provider.core.codec.pubs`: primitive inputs (the ``params`` of
  ``POST /v1/jobs``): encoding Sampler and Estimator pubs (client), decoding every form clients
  send, OpenQASM 3 or QPY (service).
- :mod:`qiskit_rest_provider.core.codec.qasm3`: OpenQASM 3 for ISA circuits, a fast writer and
  a linear-time reader with a bounded fallback to ``qiskit.qasm3``.
- :mod:`qiskit_rest_provider.core.codec.results`: the type-tagged result format
  (``{"__type__", "__value__"}``), encoded by the service and decoded by the client into
  Qiskit's ``PrimitiveResult``.

The package itself imports nothing: import the module you need.
"""
