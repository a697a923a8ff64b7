"""The Airflow UI plugin's code: job pages served by a FastAPI app inside Airflow's API server.

``plugins/sm_processing_ui.py`` registers it (``AirflowPlugin``); ``paths`` is the only module the
operator side imports (for its extra links), so it stays free of FastAPI and the database.
"""
