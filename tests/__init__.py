"""The test suite; ``tests.harness`` starts the servers it runs on."""
