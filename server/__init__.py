"""The log server: gRPC adapter, sequencer, signer, configuration and metrics."""
