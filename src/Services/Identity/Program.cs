using Mercato.Identity;
using Mercato.Identity.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Microsoft.AspNetCore.Identity;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase<IdentityDb>("identity");
builder.Services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();
builder.Services.AddScoped<TokenIssuer>();
builder.Services.AddOptions<SignInLockoutOptions>().Bind(builder.Configuration.GetSection("Identity:Lockout"))
    .Validate(o => o.MaxFailedAttempts >= 1 && o.Duration > TimeSpan.Zero, "Identity:Lockout needs MaxFailedAttempts >= 1 and a positive Duration.")
    .ValidateOnStart();
builder.Services.AddScoped<SignInLockout>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapUserEndpoints();
app.MapSigningKeyEndpoints();

await app.MigrateDatabaseAsync<IdentityDb>();
await using (var scope = app.Services.CreateAsyncScope())
{
    await TokenIssuer.EnsureSigningKeyAsync(scope.ServiceProvider.GetRequiredService<IdentityDb>(), app.Services.GetRequiredService<TimeProvider>());
}
await DevAdminSeeder.SeedAsync(app);
await app.RunAsync();

public partial class Program;
