"""SageMaker's API as data: request validation against botocore's service model, AWS-shaped errors."""
