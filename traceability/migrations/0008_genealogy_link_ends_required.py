import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Every link has both ends once 0007 has copied the old lot → lot links."""

    dependencies = [("traceability", "0007_genealogy_graph_of_lots_and_serials")]

    operations = [
        migrations.AlterField(
            model_name="genealogylink",
            name="child",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="parent_links",
                to="traceability.genealogynode",
            ),
        ),
        migrations.AlterField(
            model_name="genealogylink",
            name="parent",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="child_links",
                to="traceability.genealogynode",
            ),
        ),
    ]
