"""API of bills of materials: list, read and create a version (with its lines)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES, validated_input
from mes_site.fields import FloatField, IntegerField, ModelSerializer
from production.models import BillOfMaterials, BomLine, OperationTemplate, Product, Routing
from production.selectors.bom import bom_list
from production.services.bom import BomLineSpec, bom_create


class BomLineSerializer(ModelSerializer):
    item_code = serializers.CharField(source="item.code", read_only=True)

    class Meta:
        model = BomLine
        fields = [
            "id",
            "item",
            "item_code",
            "quantity_per_unit",
            "scrap_factor",
            "operation",
            "is_serialized",
        ]


class BillOfMaterialsSerializer(ModelSerializer):
    lines = BomLineSerializer(many=True, read_only=True)
    product_code = serializers.CharField(source="product.code", read_only=True)

    class Meta:
        model = BillOfMaterials
        fields = [
            "id",
            "product",
            "product_code",
            "version",
            "routing",
            "effective_from",
            "effective_to",
            "created_at",
            "lines",
        ]


class BomLineInputSerializer(serializers.Serializer):
    item = serializers.PrimaryKeyRelatedField(
        queryset=BomLine._meta.get_field("item").related_model.objects.all()
    )
    quantity_per_unit = serializers.DecimalField(max_digits=14, decimal_places=4)
    scrap_factor = serializers.DecimalField(
        max_digits=6, decimal_places=4, required=False, default=0
    )
    operation = serializers.PrimaryKeyRelatedField(
        queryset=OperationTemplate.objects.all(), required=False, allow_null=True
    )
    is_serialized = serializers.BooleanField(required=False, default=False)


class BillOfMaterialsCreateSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    version = serializers.CharField(max_length=32)
    routing = serializers.PrimaryKeyRelatedField(
        queryset=Routing.objects.all(), required=False, allow_null=True
    )
    effective_from = serializers.DateTimeField()
    effective_to = serializers.DateTimeField(required=False, allow_null=True)
    lines = BomLineInputSerializer(many=True, allow_empty=False)


class BillOfMaterialsViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Bills of materials, one row per version. A new version is created whole (lines
    included); a BOM in which a component contains the product is refused (``bom_cycle``)."""

    queryset = bom_list()
    serializer_class = BillOfMaterialsSerializer
    filterset_fields = ["product", "version"]

    @extend_schema(
        request=BillOfMaterialsCreateSerializer,
        responses={201: BillOfMaterialsSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        data = validated_input(BillOfMaterialsCreateSerializer, request)
        bom = bom_create(
            product=data["product"],
            version=data["version"],
            routing=data.get("routing"),
            effective_from=data["effective_from"],
            effective_to=data.get("effective_to"),
            lines=[
                BomLineSpec(
                    item_id=line["item"].pk,
                    quantity_per_unit=line["quantity_per_unit"],
                    scrap_factor=line["scrap_factor"],
                    operation_id=line["operation"].pk if line.get("operation") else None,
                    is_serialized=line["is_serialized"],
                )
                for line in data["lines"]
            ],
            actor=request.user,
        )
        bom = bom_list().get(pk=bom.pk)
        return Response(BillOfMaterialsSerializer(bom).data, status=status.HTTP_201_CREATED)


class ScanConsumeSerializer(serializers.Serializer):
    """A GS1 scan booked into the unit being made (a serial unit, or a lot)."""

    scan = serializers.CharField(
        max_length=300, help_text="GS1 element string: (01)GTIN(10)lot or (01)GTIN(21)serial."
    )
    quantity = serializers.DecimalField(
        max_digits=14, decimal_places=3, required=False, default=1, help_text="Of a lot."
    )
    into = serializers.CharField(
        max_length=100, help_text="Serial number or lot code of the unit being made."
    )


class ConsumedLinkSerializer(serializers.Serializer):
    id = IntegerField()
    parent = IntegerField(source="parent_id")
    child = IntegerField(source="child_id")
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    method = serializers.CharField()
    linked_at = serializers.DateTimeField()


class ConsumptionVarianceSerializer(serializers.Serializer):
    item = serializers.CharField()
    required = serializers.DecimalField(max_digits=16, decimal_places=4)
    consumed = serializers.DecimalField(max_digits=16, decimal_places=4)
    variance = serializers.DecimalField(max_digits=16, decimal_places=4)
    variance_percent = FloatField(allow_null=True)
    is_in_bom = serializers.BooleanField()
