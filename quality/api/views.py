from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES
from quality import filtersets, selectors, services
from quality.api import serializers as s


class CharacteristicViewSet(viewsets.ModelViewSet):
    queryset = selectors.characteristic_list()
    serializer_class = s.CharacteristicSerializer
    filterset_class = filtersets.CharacteristicFilterSet
    search_fields = ["code", "name"]


class MeasurementViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = selectors.measurement_list()
    serializer_class = s.MeasurementSerializer
    filterset_class = filtersets.MeasurementFilterSet

    @extend_schema(responses={201: s.MeasurementSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = s.MeasurementSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        measurement = services.measurement_record(actor=request.user, **serializer.validated_data)
        return Response(s.MeasurementSerializer(measurement).data, status=status.HTTP_201_CREATED)


class InspectionResultViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = selectors.inspection_result_list()
    serializer_class = s.InspectionResultSerializer
    filterset_class = filtersets.InspectionResultFilterSet

    @extend_schema(responses={201: s.InspectionResultSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = s.InspectionResultSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.inspection_result_record(**serializer.validated_data)
        return Response(s.InspectionResultSerializer(result).data, status=status.HTTP_201_CREATED)
