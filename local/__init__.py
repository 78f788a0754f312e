"""The local runtime: DynamoDB Local, the AWS emulator, the API, streams and schedules."""
