"""Browse an OPC UA server's address space (the admin's node picker): the children of one
node with their node ids, classes, data types and current values."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from asyncua import ua

from connectors.runtime.config import ConnectionConfig
from connectors.runtime.opcua import client_for, error_reason

OBJECTS_FOLDER = "i=85"
MAX_CHILDREN = 500


@dataclass(frozen=True)
class BrowsedNode:
    node_id: str
    browse_name: str
    node_class: str
    data_type: str
    value: str
    is_variable: bool


class BrowseError(Exception):
    pass


async def _browse(config: ConnectionConfig, node_id: str) -> list[BrowsedNode]:
    client = await client_for(config)
    await client.connect()
    try:
        parent = client.get_node(node_id)
        nodes = []
        for child in (await parent.get_children())[:MAX_CHILDREN]:
            node_class = await child.read_node_class()
            name = await child.read_browse_name()
            data_type = value = ""
            if node_class == ua.NodeClass.Variable:
                try:
                    data_type_id = await child.read_data_type()
                    data_type = (await client.get_node(data_type_id).read_browse_name()).Name
                    value = repr(await child.read_value())[:80]
                except ua.UaError as error:
                    value = error_reason(error)
            nodes.append(
                BrowsedNode(
                    child.nodeid.to_string(),
                    name.Name,
                    node_class.name,
                    data_type,
                    value,
                    node_class == ua.NodeClass.Variable,
                )
            )
        return nodes
    finally:
        await client.disconnect()


def opcua_browse(config: ConnectionConfig, node_id: str = OBJECTS_FOLDER) -> list[BrowsedNode]:
    """The children of ``node_id`` (default: the Objects folder); ``BrowseError`` with the
    reason when the server cannot be reached or refuses."""
    try:
        return asyncio.run(asyncio.wait_for(_browse(config, node_id), config.timeout_s * 5))
    except Exception as error:
        raise BrowseError(error_reason(error)) from None
