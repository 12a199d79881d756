using Mercato.ServiceDefaults.Resilience;

namespace Mercato.Registry.Tests;

public sealed class VersionRouterTests
{
    private static readonly string[] BothVersions = ["1.0.0", "2.0.0"];

    [Fact]
    public void Weights_split_calls_in_proportion()
    {
        var routing = new RoutingPolicy { Weights = { ["1.0.0"] = 90, ["2.0.0"] = 10 } };
        var picks = Enumerable.Range(0, 1000).Select(_ => VersionRouter.Choose(routing, null, BothVersions)).ToList();
        var v2 = picks.Count(p => p == "2.0.0");
        Assert.InRange(v2, 50, 150);
        Assert.Equal(1000 - v2, picks.Count(p => p == "1.0.0"));
    }

    [Fact]
    public void The_canary_header_always_reaches_the_canary_and_without_weights_nothing_else_does()
    {
        var routing = new RoutingPolicy { CanaryVersion = "2.0.0" };
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal("2.0.0", VersionRouter.Choose(routing, "true", BothVersions)));
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal("1.0.0", VersionRouter.Choose(routing, null, BothVersions)));
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal("1.0.0", VersionRouter.Choose(routing, "false", BothVersions)));
    }

    [Fact]
    public void A_version_without_instances_is_skipped_and_no_rule_means_any_instance()
    {
        var routing = new RoutingPolicy { Weights = { ["1.0.0"] = 10, ["3.0.0"] = 90 }, CanaryVersion = "4.0.0" };
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal("1.0.0", VersionRouter.Choose(routing, "true", BothVersions)));
        Assert.Null(VersionRouter.Choose(new RoutingPolicy(), "true", BothVersions));
    }
}
