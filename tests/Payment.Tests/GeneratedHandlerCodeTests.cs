using Mercato.Testing;

namespace Mercato.Payment.Tests;

/// <summary>Runs after, and apart from, every other test class of this assembly: see <see cref="GeneratedHandlerCode.Collection"/>.</summary>
[CollectionDefinition(GeneratedHandlerCode.Collection, DisableParallelization = true)]
public sealed class CodeGenerationCollection;

[Collection(GeneratedHandlerCode.Collection)]
public sealed class GeneratedHandlerCodeTests
{
    [Fact]
    public void Handlers_run_on_code_generated_ahead_of_time() => GeneratedHandlerCode.AssertPreGeneratedFor<Program>(GetType());

    [Fact]
    public Task An_instance_started_without_durable_messaging_is_not_ready() => GeneratedHandlerCode.AssertMediatorOnlyHostIsNotReadyFor<Program>(GetType());

    [SkippableFact]
    public Task The_scale_out_profile_generates_the_same_code() => GeneratedHandlerCode.AssertScaleOutGeneratesTheSameFor<Program>(GetType(), "payment");
}
