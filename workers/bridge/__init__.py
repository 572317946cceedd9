"""The MQTT bridge: the UNS subscriber and the Sparkplug B host application, run by
``python manage.py mqtt_bridge``. They hand batches to Celery and never touch the database."""
