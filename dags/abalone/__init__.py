"""Shared shape and defaults of the Abalone pipeline DAGs (not a DAG file: see ``dags/.airflowignore``)."""
