"""The shared core: the Qiskit domain that the client and the server both use. No HTTP.

- :mod:`.configuration`, :mod:`.properties`: a backend's configuration and calibration
  documents, validated, with their units;
- :mod:`.target`: the Qiskit ``Target`` built from them; :mod:`.rzz`: fractional ``rzz`` angles;
- :mod:`.isa`: the one ISA check (circuit against Target) both halves run;
- :mod:`.execution_span`: a job's execution spans;
- :mod:`.codec`: the wire's encodings (OpenQASM 3, pubs, ndarrays, results).

May import the protocol vocabulary (:mod:`qiskit_rest_provider.wire`), the exception tree
(:mod:`qiskit_rest_provider.errors`), Qiskit and numpy; never the HTTP layer, the client or the
server.
"""
