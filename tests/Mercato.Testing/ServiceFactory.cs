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
            services.DisableAllExternalWolverineTransports();
            services.AddHttpClient(MercatoAuth.JwksClient).ConfigurePrimaryHttpMessageHandler(CreateJwksHandler);
            ConfigureTestServices(services);
        });
    }

    /// <summary>Where the service fetches its JWKS from; by default the test key.</summary>
    protected virtual HttpMessageHandler CreateJwksHandler() => Tokens.CreateJwksHandler();

    protected virtual void ConfigureTestServices(IServiceCollection services)
    {
    }

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
