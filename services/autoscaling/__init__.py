"""Application Auto Scaling for SageMaker endpoint variants: targets, policies, activities, the scaler."""
