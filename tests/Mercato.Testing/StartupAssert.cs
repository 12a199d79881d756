using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;

namespace Mercato.Testing;

public static class StartupAssert
{
    /// <summary>The host does not start, and the error names <paramref name="setting"/>.</summary>
    public static void RefusesToStart<TProgram>(WebApplicationFactory<TProgram> factory, string setting) where TProgram : class
    {
        var error = Assert.ThrowsAny<Exception>(() => factory.Services);
        var messages = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            messages.Add(e.Message);
            if (e is AggregateException aggregate)
            {
                messages.AddRange(aggregate.InnerExceptions.Select(inner => inner.Message));
            }
        }
        Assert.True(messages.Any(m => m.Contains(setting, StringComparison.Ordinal)),
            $"The start failed without naming {setting}:\n{error}");
    }
}
