using System.Net.Http.Headers;
using Mercato.ServiceDefaults.Auth;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;

namespace Mercato.Testing;

/// <summary>
/// Runs one service in process on its own real SQLite file in a fresh temporary folder, with tokens it trusts.
/// </summary>
public class ServiceFactory<TProgram> : WebApplicationFactory<TProgram> where TProgram : class
{
    public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "mercato-tests", Guid.NewGuid().ToString("N"));

    public TestTokens Tokens { get; } = new();

    public Guid AdminId { get; } = Guid.NewGuid();

    public Guid CustomerId { get; } = Guid.NewGuid();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("Mercato:DataDir", DataDir);
        // Messaging services name their peers; in a single-service test nothing is sent across processes.
        foreach (var peer in (string[])["ordering", "payment", "inventory", "notification", "analytics", "basket"])
        {
            builder.UseSetting($"Messaging:Peers:{peer}", "tcp://localhost:1");
        }
        builder.ConfigureTestServices(services =>
        {
            if (!WithMessageListener)
            {
                services.DisableAllExternalWolverineTransports();
            }
            services.AddHttpClient(MercatoAuth.JwksClient).ConfigurePrimaryHttpMessageHandler(CreateJwksHandler);
            ConfigureTestServices(services);
        });
    }

    /// <summary>
    /// Keep the service's real message transports (set <c>Messaging:Port</c> to listen on one); by default they are
    /// replaced, as a single-service test sends nothing across processes.
    /// </summary>
    protected virtual bool WithMessageListener => false;

    /// <summary>Where the service fetches its JWKS from; by default the test key.</summary>
    protected virtual HttpMessageHandler CreateJwksHandler() => Tokens.CreateJwksHandler();

    protected virtual void ConfigureTestServices(IServiceCollection services)
    {
    }

    /// <summary>
    /// This service with a 1 s SQLite busy timeout on its database <paramref name="database"/>, so that a test waits 1 s
    /// for SQLite to give up on a locked file instead of the default 30.
    /// </summary>
    public WebApplicationFactory<TProgram> WithImpatientDatabase(string database) =>
        WithWebHostBuilder(builder => builder.UseSetting($"ConnectionStrings:{database}", $"Data Source={DatabaseFile(database)};Default Timeout=1"));

    /// <summary>Holds SQLite's exclusive lock on the database file until disposed, as a long write by another process would.</summary>
    public async Task<IAsyncDisposable> LockDatabaseAsync(string database)
    {
        var holder = new SqliteConnection($"Data Source={DatabaseFile(database)};Pooling=False");
        await holder.OpenAsync();
        await using var begin = holder.CreateCommand();
        begin.CommandText = "BEGIN EXCLUSIVE;";
        await begin.ExecuteNonQueryAsync();
        return holder;
    }

    private string DatabaseFile(string database) => Path.Combine(DataDir, $"{database}.db");

    public HttpClient CreateClientWithToken(string token)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public HttpClient CreateAdminClient() => CreateClientWithToken(Tokens.Issue(AdminId, MercatoAuth.AdminRole, MercatoAuth.CustomerRole));

    public HttpClient CreateCustomerClient() => CreateClientWithToken(Tokens.Issue(CustomerId, MercatoAuth.CustomerRole));

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Tokens.Dispose();
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(DataDir, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open only leaves litter in the temp folder.
            }
        }
    }
}
