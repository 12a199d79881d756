using Mercato.Payment.Data;
using Mercato.ServiceDefaults.Messaging;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Wolverine.Runtime;

namespace Mercato.Payment.Tests;

/// <summary>
/// Settings of the embedded profile that decide its speed: how long Wolverine's TCP sender waits to fill a batch
/// (250 ms by default: a quarter second per saga hop on a quiet system), and whether SQLite fsyncs every commit.
/// </summary>
public sealed class EmbeddedProfileTests
{
    private static readonly Uri Peer = new("tcp://localhost:1");

    private static TimeSpan BatchTimeoutOfPeer(ServiceFactory<Program> service)
    {
        var runtime = service.Services.GetRequiredService<IWolverineRuntime>();
        var endpoint = runtime.Endpoints.EndpointFor(Peer) ?? throw new InvalidOperationException($"no endpoint for {Peer}");
        return endpoint.MessageBatchTimeout;
    }

    private static async Task<long> PragmaOf(ServiceFactory<Program> service, string pragma)
    {
        await using var scope = service.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentDb>();
        await db.Database.OpenConnectionAsync();
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = $"PRAGMA {pragma};";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public void Tcp_senders_wait_milliseconds_not_wolverines_quarter_second_for_a_batch()
    {
        using var service = new ServiceFactory<Program>();

        var timeout = BatchTimeoutOfPeer(service);

        Assert.Equal(MessagingExtensions.DefaultSendBatchTimeout, timeout);
        Assert.True(timeout < TimeSpan.FromMilliseconds(250), $"batch timeout {timeout}");
    }

    [Fact]
    public async Task Sqlite_commits_without_an_fsync_each_and_waits_for_a_busy_file_inside_sqlite()
    {
        using var service = new ServiceFactory<Program>();

        Assert.Equal(1, await PragmaOf(service, "synchronous")); // NORMAL (SQLite's default is 2, FULL)
        Assert.Equal(30_000, await PragmaOf(service, "busy_timeout")); // the connection's 30 s (default 0: Microsoft.Data.Sqlite's 150 ms sleeps)
    }

    [Fact]
    public async Task Both_are_configurable()
    {
        using var service = new ConfiguredServiceFactory<Program>(("Messaging:SendBatchTimeout", "00:00:00.040"), ("Database:SqliteSynchronous", "Full"));

        Assert.Equal(TimeSpan.FromMilliseconds(40), BatchTimeoutOfPeer(service));
        Assert.Equal(2, await PragmaOf(service, "synchronous"));
    }
}
