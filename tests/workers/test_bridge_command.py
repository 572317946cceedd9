"""``manage.py mqtt_bridge`` set-up: the broker address from the settings (TLS files,
credentials) and the Sparkplug groups the host owns."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from workers.models import SparkplugNodeMapping
from workers.selectors import sparkplug_groups_known


def test_tls_files_with_a_plain_url_stop_the_bridge_with_a_message_naming_them(settings, tmp_path):
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("x")
    settings.MQTT_URL = "mqtt://localhost:1883"
    settings.MQTT_CA_FILE = str(ca_file)

    with pytest.raises(CommandError, match=r"MQTT_CA_FILE set, but MQTT_URL .* use mqtts://"):
        call_command("mqtt_bridge")


def test_a_missing_client_certificate_stops_the_bridge_with_a_message_naming_it(settings, tmp_path):
    settings.MQTT_URL = "mqtts://localhost:8883"
    settings.MQTT_CERT_FILE = str(tmp_path / "missing.crt")

    with pytest.raises(CommandError, match=r"MQTT_CERT_FILE '.*missing.crt' is not a readable"):
        call_command("mqtt_bridge")


def test_the_plants_groups_are_the_mapped_ones_and_enterprise_site_of_every_site(plant):
    SparkplugNodeMapping.objects.create(
        group_id="line-gateways", edge_node_id="gw1", equipment=plant.equipment
    )

    assert sparkplug_groups_known() == ["ent_s1", "ent_s2", "line-gateways"]


def test_a_ca_file_that_is_no_certificate_stops_the_bridge_with_a_message_naming_it(
    settings, tmp_path
):
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("not a certificate")
    settings.MQTT_URL = "mqtts://localhost:8883"
    settings.MQTT_CA_FILE = str(ca_file)

    with pytest.raises(CommandError, match=r"MQTT_CA_FILE '.*ca.crt' is not a CA bundle"):
        call_command("mqtt_bridge")
