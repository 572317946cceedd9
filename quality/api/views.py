from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES
from quality import filtersets, selectors, services
from quality.api import serializers as s
from quality.models import InspectionResult, Measurement


class CharacteristicViewSet(viewsets.ModelViewSet):
    queryset = selectors.characteristic_list()
    serializer_class = s.CharacteristicSerializer
    filterset_class = filtersets.CharacteristicFilterSet
    search_fields = ["code", "name"]


class MeasurementViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Measurement.objects.none()  # for the permission class; see get_queryset
    serializer_class = s.MeasurementSerializer
    filterset_class = filtersets.MeasurementFilterSet

    def get_queryset(self):
        return selectors.measurement_list(user=self.request.user)

    @extend_schema(responses={201: s.MeasurementSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = s.MeasurementSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        measurement = services.measurement_record(actor=request.user, **serializer.validated_data)
        return Response(s.MeasurementSerializer(measurement).data, status=status.HTTP_201_CREATED)


class InspectionResultViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = InspectionResult.objects.none()  # for the permission class; see get_queryset
    serializer_class = s.InspectionResultSerializer
    filterset_class = filtersets.InspectionResultFilterSet

    def get_queryset(self):
        return selectors.inspection_result_list(user=self.request.user)

    @extend_schema(responses={201: s.InspectionResultSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = s.InspectionResultSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        result = services.inspection_result_record(actor=request.user, **serializer.validated_data)
        return Response(s.InspectionResultSerializer(result).data, status=status.HTTP_201_CREATED)
