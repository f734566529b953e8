"""The ``executor`` program of the local service: IBM's quantum programs (circuit items and
samplomatic samplex items) run on the device emulator.

- :mod:`.decode`: the versioned params (``ibm_quantum_schemas.executor``), their declared sizes
  checked before anything is inflated or allocated, decoded into a :class:`QuantumProgramJob`;
- :mod:`.sandbox`: decoding at submission in a memory- and time-bounded worker process;
- :mod:`.run`: samplexes sampled by samplomatic, circuits simulated with the device's noise;
- :mod:`.results`: the result in the params' schema version.

Needs the ``server`` extra's ``samplomatic`` and ``ibm-quantum-schemas``.
"""

from __future__ import annotations

from .decode import ProgramError, QuantumProgramJob, decode_program
from .run import run_program
from .sandbox import ProgramInspector, ProgramSummary

__all__ = [
    "ProgramError",
    "ProgramInspector",
    "ProgramSummary",
    "QuantumProgramJob",
    "decode_program",
    "run_program",
]
