using Mercato.Identity;
using Mercato.Identity.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Microsoft.AspNetCore.Identity;
using Mercato.ServiceDefaults.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase<IdentityDb>("identity");
builder.Services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();
builder.Services.AddScoped<TokenIssuer>();
builder.Services.AddValidatedSettings<SignInLockoutOptions>(builder.Configuration.GetSection("Identity:Lockout"));
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
