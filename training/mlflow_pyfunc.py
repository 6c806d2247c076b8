"""MLflow *models from code* entry of the trained models (see :mod:`training.mlflow_models`).

MLflow copies this file into every logged model and runs it on load; the model config names the kind.
"""

from mlflow.models import set_model

from training.mlflow_models import TrainedModel

set_model(TrainedModel())
