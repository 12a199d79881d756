// OpenTelemetry subscribes to meters by name, process-wide, so a gateway started by one test class can count the
// requests of gateways that classes running beside it start, and the tests that read /metrics would see those counts
// (the cache metrics test failed once this way, or so it looked: it passed on every rerun). One class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
