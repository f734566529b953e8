"""qiskit-rest-provider."""
