using Mercato.Testing;

namespace Mercato.Inventory.Tests;

public sealed class GeneratedHandlerCodeTests
{
    [Fact]
    public void Handlers_run_on_code_generated_ahead_of_time() => GeneratedHandlerCode.AssertPreGeneratedFor<Program>();

    [SkippableFact]
    public Task The_scale_out_profile_generates_the_same_code() => GeneratedHandlerCode.AssertScaleOutGeneratesTheSameFor<Program>("inventory");
}
