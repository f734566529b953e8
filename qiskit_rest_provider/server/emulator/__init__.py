"""The device and primitive emulator of the local service."""
