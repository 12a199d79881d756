// OpenTelemetry subscribes to meters by name, process-wide: the /metrics of one gateway in this process also counts the
// requests of every other one (checked: three cached reads through gateway B showed in gateway A's cache counter). Tests
// that read /metrics would see the gateways of classes running beside them, so one class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
