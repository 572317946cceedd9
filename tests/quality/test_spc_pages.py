"""The SPC pages: the overview lists charts out of control and below Cpk 1.33; the chart page
draws points, limits, zones and the violating points, the capability box and the histogram;
a chart of another line is not found."""

from __future__ import annotations

import pytest

from quality.models import Characteristic
from quality.services import control_limits_compute, subgroup_record

pytestmark = pytest.mark.django_db

BASELINE = [[10.0, 10.2, 9.8], [10.1, 9.9, 10.0], [9.9, 10.1, 10.2], [10.0, 9.8, 10.1]]


@pytest.fixture
def charted(make_chart):
    chart = make_chart()
    for row in BASELINE:
        subgroup_record(chart=chart, values=row)
    control_limits_compute(chart_id=chart.pk, first_index=0, last_index=3, actor=None, reason="x")
    subgroup_record(chart=chart, values=[11.0, 11.1, 10.9])  # nelson 1 at point 4
    return chart


def test_the_chart_page_draws_the_chart_the_capability_and_the_histogram(
    charted, make_user, verified_client
):
    client = verified_client(make_user("quality"))
    response = client.get(f"/quality/spc/{charted.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="violation"') == 1
    assert body.count('class="point"') == 4
    assert "<title>UCL</title>" in body and "<title>CL</title>" in body
    assert "zone A" in body and "zone C" in body
    assert "Anderson–Darling" in body and "Cpk" in body
    assert 'class="spc-histogram"' in body
    assert "nelson_1: One point beyond 3σ" in body
    assert "<script>" not in body and "style=" not in body


def test_the_overview_lists_charts_out_of_control_and_not_capable(
    charted, make_user, verified_client
):
    Characteristic.objects.filter(pk=charted.characteristic_id).update(upper_spec_limit=10.5)
    client = verified_client(make_user("quality"))
    body = client.get("/quality/spc/").content.decode()
    out_of_control = body.split("<h2>Out of control</h2>")[1].split("</section>")[0]
    not_capable = body.split("<h2>Cpk below 1.33</h2>")[1].split("</section>")[0]
    assert "D1</a> on L1_M1: 1 violation" in out_of_control
    assert "D1</a>: Cpk 0." in not_capable  # mean 10.2, σ within 0.16, USL 10.5


def test_a_chart_of_another_line_is_not_found(make_chart, plant, make_user, verified_client):
    chart = make_chart(equipment=plant.other_equipment)
    operator = make_user("operator")  # scoped to L1
    client = verified_client(operator)
    assert client.get(f"/quality/spc/{chart.pk}/").status_code == 404
    assert "D1" not in client.get("/quality/spc/").content.decode()
