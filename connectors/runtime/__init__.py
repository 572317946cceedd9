"""The connectors' runtime: OPC UA and Modbus TCP clients publishing into the Unified
Namespace, and the deployable edge agent. No Django: a gateway runs it from an exported
configuration file (``python -m connectors.run --config file.json``)."""
