"""Choices of the connector models: the runtime's enums (connectors.runtime.config) as
Django TextChoices, so that the admin and the exported file use the same values."""

from django.db import models


class Protocol(models.TextChoices):
    OPCUA = "opcua", "OPC UA"
    MODBUS = "modbus", "Modbus TCP"


class SecurityPolicy(models.TextChoices):
    NONE = "None", "None"
    BASIC256SHA256 = "Basic256Sha256", "Basic256Sha256"


class SecurityMode(models.TextChoices):
    SIGN = "Sign", "Sign"
    SIGN_AND_ENCRYPT = "SignAndEncrypt", "Sign and encrypt"


class RegisterKind(models.TextChoices):
    HOLDING = "holding", "Holding register"
    INPUT = "input", "Input register"
    COIL = "coil", "Coil"
    DISCRETE_INPUT = "discrete_input", "Discrete input"


class DataType(models.TextChoices):
    BOOL = "bool", "bool"
    INT16 = "int16", "int16"
    UINT16 = "uint16", "uint16"
    INT32 = "int32", "int32 (2 registers)"
    UINT32 = "uint32", "uint32 (2 registers)"
    FLOAT32 = "float32", "float32 (2 registers)"


class ByteOrder(models.TextChoices):
    BIG = "big", "Big endian"
    LITTLE = "little", "Little endian"


class ConnectionState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown (never run)"
    CONNECTING = "connecting", "Connecting"
    CONNECTED = "connected", "Connected"
    DEGRADED = "degraded", "Connected, with errors"
    DISCONNECTED = "disconnected", "Disconnected"
    STOPPED = "stopped", "Stopped"
