"""What runs inside the training worker process: data sets, models and one training loop per task."""
